#!/bin/sh
# One-shot (compose service minio-setup, image minio/mc): with the MinIO root keys, which only
# this container and minio itself hold, create the bucket and the application's user, limited
# by app-policy.json to that one bucket. Safe to run again: it updates the policy and the
# user's secret, and checks the policy is attached.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${MINIO_APP_ACCESS_KEY:?}" "${MINIO_APP_SECRET_KEY:?}" "${MINIO_BUCKET:?}"
if [ "$MINIO_APP_ACCESS_KEY" = "$MINIO_ROOT_USER" ]; then
    echo "MINIO_APP_ACCESS_KEY must differ from MINIO_ROOT_USER: the application never gets the root keys" >&2
    exit 1
fi
if ! grep -q "\"arn:aws:s3:::$MINIO_BUCKET\"" /aso-render/app-policy.json; then
    echo "app-policy.json does not name bucket $MINIO_BUCKET" >&2
    exit 1
fi
mc alias set aso http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "aso/$MINIO_BUCKET"
mc anonymous set none "aso/$MINIO_BUCKET"
mc admin policy create aso aso-render-app /aso-render/app-policy.json
mc admin user add aso "$MINIO_APP_ACCESS_KEY" "$MINIO_APP_SECRET_KEY"
mc admin policy attach aso aso-render-app --user "$MINIO_APP_ACCESS_KEY" 2>/dev/null || true
# Attached now or before (attach refuses a policy already in effect): fail if it is not.
mc admin user info aso "$MINIO_APP_ACCESS_KEY" --json | grep -q 'aso-render-app'
echo "bucket $MINIO_BUCKET and user $MINIO_APP_ACCESS_KEY (policy aso-render-app) ready"
