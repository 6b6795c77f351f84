"""Back office for staff (Seksi PHU): case queue and review, live hand-off inbox, exports, registry upload,
dashboard, audit log, plus the integration API (/api/v1) and the outgoing webhook.

`bot/backoffice/routes.py` mounts everything (`setup_routes(app, services)`); bot/extensions.py calls it."""
