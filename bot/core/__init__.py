"""The message path: inbound types, the pipeline, the outbox and what they need on the way (conversation
locks, opt-out keywords, system texts, the channel interface, background loops, metrics, log masking).

Channels, the back office and broadcasts depend on this package; it depends only on dialogues, nlu and
storage. See docs/architecture.md."""
