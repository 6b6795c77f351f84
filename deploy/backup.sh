#!/bin/sh
# Nightly backup: a consistent PostgreSQL dump and the (encrypted) document store.
# Needs PGPASSFILE or peer auth for the dump; BACKUP_DIR defaults to /var/backups/hajibot.
set -eu
BACKUP_DIR=${BACKUP_DIR:-/var/backups/hajibot}
FILES_DIR=${HAJIBOT_FILES_DIR:-/var/lib/hajibot/files}
DB=${HAJIBOT_PG_DATABASE:-hajibot}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
KEEP_DAYS=${KEEP_DAYS:-14}
umask 077
mkdir -p "$BACKUP_DIR"
# 1. database first: a document referenced by the dump is always in the later file copy
pg_dump --format=custom --no-owner --dbname="$DB" --file="$BACKUP_DIR/db-$STAMP.dump"
# 2. documents: content-addressed and never modified, so an incremental copy is safe while serving
rsync -a "$FILES_DIR/" "$BACKUP_DIR/files/"
# 3. old dumps
find "$BACKUP_DIR" -maxdepth 1 -name 'db-*.dump' -mtime +"$KEEP_DAYS" -delete
echo "backup done: $BACKUP_DIR/db-$STAMP.dump"
