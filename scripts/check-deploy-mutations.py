#!/usr/bin/env python3
"""Proves scripts/check-deploy.py catches what it is meant to: breaks a copy of deploy/ one way
at a time (a mutation) and expects the check to fail with the matching message. The copy lives
in a temporary directory; the repository is never touched.
Usage: scripts/check-deploy-mutations.py path/to/aso-render [substring of a mutation name ...]
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

root = pathlib.Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / ".build/debug/aso-render")
only = sys.argv[2:]

K = "deploy/kubernetes/"
# (name, file, text to find (its first occurrence is changed), replacement, expected message, needs PostgreSQL)
MUTATIONS = [
    # Dockerfile
    ("image user by name", "deploy/Dockerfile", "USER 10001:10001", "USER aso", "is not numeric"),
    ("image user root", "deploy/Dockerfile", "USER 10001:10001", "USER 0:0", "is root"),
    ("DATA_DIR not the user's", "deploy/Dockerfile", "chown 10001:10001 /app/data", "chown 999 /app/data", "is not chowned"),
    # compose: access control
    ("compose API_KEYS dropped", "deploy/docker-compose.yml", "      API_KEYS: ${API_KEYS:-}\n", "", "API_KEYS is not passed through"),
    ("compose anonymous by default", "deploy/docker-compose.yml", "${ALLOW_ANONYMOUS:-false}", "${ALLOW_ANONYMOUS:-true}", "ALLOW_ANONYMOUS defaults to"),
    ("compose ALLOW_ANONYMOUS dropped", "deploy/docker-compose.yml", "      ALLOW_ANONYMOUS: ${ALLOW_ANONYMOUS:-false}\n", "", "ALLOW_ANONYMOUS is not passed through"),
    ("compose METRICS_TOKEN dropped", "deploy/docker-compose.yml", "  METRICS_TOKEN: ${METRICS_TOKEN:-}\n", "", "METRICS_TOKEN is not passed through"),
    ("compose URL_SIGNING_SECRET dropped", "deploy/docker-compose.yml", "      URL_SIGNING_SECRET: ${URL_SIGNING_SECRET:-}\n", "", "URL_SIGNING_SECRET"),
    # compose: hardening
    ("compose capabilities kept", "deploy/docker-compose.yml", "  cap_drop: [ALL]\n", "", "cap_drop does not drop ALL"),
    ("compose setuid allowed", "deploy/docker-compose.yml", 'security_opt: ["no-new-privileges:true"]', "security_opt: []", "no-new-privileges"),
    # compose: PostgreSQL roles
    ("compose app as migration owner", "deploy/docker-compose.yml",
     "  DB_USER: ${DB_APP_USER:-aso_app}\n  DB_PASSWORD: ${DB_APP_PASSWORD:?set DB_APP_PASSWORD}",
     "  DB_USER: ${DB_MIGRATE_USER:-aso_owner}\n  DB_PASSWORD: ${DB_MIGRATE_PASSWORD:?set DB_MIGRATE_PASSWORD}", "as the migration owner"),
    ("compose app as superuser", "deploy/docker-compose.yml",
     "  DB_USER: ${DB_APP_USER:-aso_app}\n  DB_PASSWORD: ${DB_APP_PASSWORD:?set DB_APP_PASSWORD}",
     "  DB_USER: postgres\n  DB_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "as the superuser"),
    ("compose migrate as superuser", "deploy/docker-compose.yml",
     "      DB_USER: ${DB_MIGRATE_USER:-aso_owner}\n      DB_PASSWORD: ${DB_MIGRATE_PASSWORD:?set DB_MIGRATE_PASSWORD}",
     "      DB_USER: postgres\n      DB_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "migrate: logs in to PostgreSQL as the superuser"),
    ("compose roles never created", "deploy/docker-compose.yml",
     "    - ./postgres/init-roles.sh:/docker-entrypoint-initdb.d/10-aso-render-roles.sh:ro\n", "", "init-roles.sh is not mounted"),
    # compose: MinIO
    ("compose app with MinIO root keys", "deploy/docker-compose.yml",
     "  MINIO_ACCESS_KEY: ${MINIO_APP_ACCESS_KEY:-aso-render-app}\n  MINIO_SECRET_KEY: ${MINIO_APP_SECRET_KEY:?set MINIO_APP_SECRET_KEY}",
     "  MINIO_ACCESS_KEY: ${MINIO_ROOT_USER:?set MINIO_ROOT_USER}\n  MINIO_SECRET_KEY: ${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD}", "with the MinIO root keys"),
    ("compose migrate with S3 keys", "deploy/docker-compose.yml", "      MINIO_ACCESS_KEY: unused-by-migrate",
     "      MINIO_ACCESS_KEY: ${MINIO_APP_ACCESS_KEY:-aso-render-app}", "needs no S3 credentials"),
    ("compose api before the bucket user", "deploy/docker-compose.yml",
     "      minio-setup: {condition: service_completed_successfully}\n", "", "does not wait for minio-setup"),
    ("compose missing mounted file", "deploy/docker-compose.yml", "./minio/app-policy.json:", "./minio/no-such-policy.json:", "which does not exist"),
    # deploy/.env
    (".env not ignored", ".gitignore", "/deploy/.env\n", "", "not ignored by git"),
    (".env.example with a secret", "deploy/.env.example", "POSTGRES_PASSWORD=\n", "POSTGRES_PASSWORD=hunter2\n", "fills in POSTGRES_PASSWORD"),
    (".env.example incomplete", "deploy/.env.example", "DB_APP_PASSWORD=\n", "", "does not mention DB_APP_PASSWORD"),
    (".env.example anonymous", "deploy/.env.example", "ALLOW_ANONYMOUS=false", "ALLOW_ANONYMOUS=true", "turns ALLOW_ANONYMOUS on"),
    # Kubernetes: securityContext and files
    ("k8s writable root", K + "api.yaml", "          readOnlyRootFilesystem: true\n", "", "readOnlyRootFilesystem is not true"),
    ("k8s privilege escalation", K + "worker.yaml", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation is not false"),
    ("k8s capabilities kept", K + "migrate-job.yaml", 'drop: ["ALL"]', "drop: []", "does not drop ALL"),
    ("k8s capability added", K + "api.yaml", 'drop: ["ALL"]', 'drop: ["ALL"]\n            add: ["NET_RAW"]', "capabilities adds"),
    ("k8s pod as root", K + "api.yaml", "        runAsUser: 10001", "        runAsUser: 0", "not the Dockerfile's user"),
    ("k8s container may be root", K + "worker.yaml", "          runAsNonRoot: true\n", "", "runAsNonRoot is not true"),
    ("k8s seccomp off", K + "worker.yaml", "          seccompProfile:\n            type: RuntimeDefault",
     "          seccompProfile:\n            type: Unconfined", "seccompProfile is not RuntimeDefault"),
    ("k8s token mounted", K + "migrate-job.yaml", "automountServiceAccountToken: false", "automountServiceAccountToken: true", "automountServiceAccountToken is not false"),
    ("k8s no /tmp", K + "worker.yaml", "        - name: tmp\n          mountPath: /tmp\n", "", "nothing is mounted at /tmp"),
    ("k8s DATA_DIR read-only", K + "api.yaml", "          mountPath: /app/data\n", "          mountPath: /app/data\n          readOnly: true\n", "is not a writable emptyDir"),
    # Kubernetes: the way in
    ("k8s LoadBalancer", K + "api.yaml", "  type: ClusterIP", "  type: LoadBalancer", "is of type LoadBalancer"),
    ("k8s no Ingress", K + "ingress.yaml", "            name: pop-render-api", "            name: somewhere-else", "no Ingress routes to the API"),
    ("k8s small bodies", K + "ingress.yaml", 'proxy-body-size: "60m"', 'proxy-body-size: "10m"', "proxy-body-size"),
    ("k8s short timeouts", K + "ingress.yaml", 'proxy-read-timeout: "300"', 'proxy-read-timeout: "60"', "proxy-read-timeout is 60"),
    ("k8s no TLS", K + "ingress.yaml", "  - hosts: [render.example.com]", "  - hosts: [other.example.com]", "has no TLS"),
    ("k8s metrics public", K + "ingress.yaml", "      - path: /v1\n", "      - path: /\n", "exposes /"),
    ("k8s wrong API port", K + "api.yaml", 'value: "8089"', 'value: "8090"', "spec's port 8089"),
    ("k8s API resources", K + "api.yaml", 'memory: "512Mi"', 'memory: "1Gi"', "are not the spec's"),
    # Kubernetes: access control
    ("k8s API keys optional", K + "api.yaml", "              key: api-keys\n", "              key: api-keys\n              optional: true\n", "API_KEYS secret is optional"),
    ("k8s anonymous", K + "api.yaml", '        - name: ALLOW_ANONYMOUS\n          value: "false"', '        - name: ALLOW_ANONYMOUS\n          value: "true"', "ALLOW_ANONYMOUS is on"),
    ("k8s signing secret optional", K + "api.yaml", "              key: url-signing-secret\n",
     "              key: url-signing-secret\n              optional: true\n", "URL_SIGNING_SECRET secret is optional"),
    ("k8s worker metrics token dropped", K + "worker.yaml", "        - name: METRICS_TOKEN\n", "        - name: METRICS_TOKEN_OFF\n", "METRICS_TOKEN is not passed through"),
    ("k8s unknown variable", K + "api.yaml", "        - name: ALLOW_ANONYMOUS\n", "        - name: ALLOW_ANONYMOS\n", "which the service does not read"),
    ("k8s undefined secret", K + "api.yaml", "              key: api-keys\n", "              key: api-keyz\n", "api-secret/api-keyz is not defined"),
    # Kubernetes: NetworkPolicies
    ("k8s API unselected", K + "networkpolicy.yaml", "      app: pop-render-api\n", "      app: aso-render-ap\n", "pop-render-api: no NetworkPolicy selects"),
    ("k8s API open to a namespace", K + "networkpolicy.yaml", "kubernetes.io/metadata.name: ingress-nginx", "kubernetes.io/metadata.name: default",
     "lets namespace default reach the API"),
    ("k8s worker open to all", K + "networkpolicy.yaml",
     "  - from:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: monitoring\n    ports:\n    - protocol: TCP\n      port: 9091",
     "  - ports:\n    - protocol: TCP\n      port: 9091", "without from/ports"),
    ("k8s egress elsewhere", K + "networkpolicy.yaml", "      port: 5432", "      port: 5433", "egress to port 5433"),
    ("k8s egress anywhere", K + "networkpolicy.yaml", "  - to:\n    - podSelector:\n        matchLabels:\n          app: redis",
     "  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n    - podSelector:\n        matchLabels:\n          app: redis", "egress to 0.0.0.0/0"),
    ("k8s webhooks reach private addresses", K + "networkpolicy.yaml", "except: [10.0.0.0/8, ", "except: [", "does not except 10.0.0.0/8"),
    ("k8s webhooks on any port", K + "networkpolicy.yaml", '"::1/128"]\n    ports:\n    - protocol: TCP\n      port: 443',
     '"::1/128"]\n    ports:\n    - protocol: TCP\n      port: 22', "on port 22, not only HTTPS"),
    ("k8s job unselected", K + "migrate-job.yaml", "        app: aso-render-migrate\n", "        app: aso-render-migrate-x\n", "aso-render-migrate: no NetworkPolicy selects"),
    # Kubernetes: credentials
    ("k8s API as migration owner", K + "api.yaml", "name: postgres-app-secret", "name: postgres-migrate-secret", "the migration job's credentials"),
    ("k8s app role is postgres", K + "secrets.yaml", "  username: aso_app", "  username: postgres", "as the superuser postgres"),
    ("k8s MinIO root user", K + "secrets.yaml", "  access-key: aso-render-app", "  access-key: minioadmin", "with MinIO root keys"),
    ("k8s migrate with S3 keys", K + "migrate-job.yaml", "        - name: MINIO_ACCESS_KEY\n          value: unused-by-migrate",
     "        - name: MINIO_ACCESS_KEY\n          valueFrom:\n            secretKeyRef:\n              name: minio-secret\n              key: access-key",
     "holds S3 credentials"),
    ("k8s DB_USER shared", K + "configmap.yaml", "  DB_NAME: aso_render\n", "  DB_NAME: aso_render\n  DB_USER: postgres\n", "sets DB_USER"),
    # S3 policy
    ("policy any bucket", K + "storage-policy.yaml", '"Resource": ["arn:aws:s3:::render-assets"]', '"Resource": ["arn:aws:s3:::*"]', "names arn:aws:s3:::*"),
    ("policy admin", "deploy/minio/app-policy.json", '"s3:GetBucketLocation"', '"s3:*"', "grants s3:*"),
    ("policies differ", "deploy/minio/app-policy.json", '"s3:DeleteObject", ', "", "the S3 policies differ"),
    # roles.sql (statically, and on a scratch PostgreSQL)
    ("roles all privileges", "deploy/postgres/roles.sql", 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";',
     'GRANT ALL ON ALL TABLES IN SCHEMA public TO :"app_role";', "gives the application role", True),
    ("roles app may create", "deploy/postgres/roles.sql", 'GRANT USAGE ON SCHEMA public TO :"app_role";',
     'GRANT USAGE, CREATE ON SCHEMA public TO :"app_role";', "gives the application role ['CREATE']", True),
    ("roles no default privileges", "deploy/postgres/roles.sql",
     'ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";\n', "",
     "the application role cannot write rows", True),
    ("roles app superuser (live only)", "deploy/postgres/roles.sql",
     'ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER', 'ALTER ROLE :"app_role" WITH LOGIN SUPERUSER', "the application role may create tables", True),
    ("roles app in owner (live)", "deploy/postgres/roles.sql", "-- What migrations create from now on.",
     'GRANT :"owner_role" TO :"app_role";\n-- What migrations create from now on.', "the application role may create tables", True),
]


def copy_tree(destination):
    for relative in ("deploy", "db/migrations", "Package.swift", "scripts/check-deploy.py", "Sources/RenderService/Resources/openapi.json", ".gitignore"):
        source, target = root / relative, destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    (destination / "deploy/.env").unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q", str(destination)], check=True)


def run_check(destination, with_postgres):
    environment = dict(os.environ, ASO_DEPLOY_ROOT=str(destination), CHECK_DEPLOY_PG="1" if with_postgres else "0")
    return subprocess.run([sys.executable, str(destination / "scripts/check-deploy.py"), frozen_binary], capture_output=True, text=True, env=environment)


failures = 0
with tempfile.TemporaryDirectory(prefix="check-deploy-mutations-") as scratch:
    # A copy of the binary, so a rebuild during the run cannot change or lock it.
    frozen_binary = str(pathlib.Path(scratch) / "aso-render")
    shutil.copy2(binary, frozen_binary)
    pristine = pathlib.Path(scratch) / "pristine"
    copy_tree(pristine)
    baseline = run_check(pristine, True)
    if baseline.returncode != 0:
        sys.exit(f"the unbroken copy fails already:\n{baseline.stderr}")
    for mutation in MUTATIONS:
        name, file, old, new, expected = mutation[:5]
        with_postgres = len(mutation) > 5 and mutation[5]
        if only and not any(word in name for word in only):
            continue
        copy = pathlib.Path(scratch) / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(pristine, copy, symlinks=True)
        path = copy / file
        text = path.read_text()
        if old not in text:
            print(f"STALE  {name}: {file} no longer contains {old!r}")
            failures += 1
            continue
        path.write_text(text.replace(old, new, 1))
        result = run_check(copy, with_postgres)
        if result.returncode != 0 and expected in result.stderr:
            line = next((l.strip() for l in result.stderr.splitlines() if expected in l), "")
            print(f"caught {name}: {line}")
        else:
            print(f"MISSED {name}: exit {result.returncode}, expected {expected!r} in:\n{result.stderr}")
            failures += 1
print(f"{len(MUTATIONS) if not only else 'selected'} mutations, {failures} not caught")
sys.exit(1 if failures else 0)
