#!/usr/bin/env python3
"""Checks the deployment files under deploy/ against the code, since no Docker engine or
cluster runs here: every YAML document parses, every variable they set is one the service reads
(`aso-render config` lists them), secrets and config maps they reference exist, probe paths are
routes of the OpenAPI document, commands are real subcommands, and what the Dockerfile copies
exists. And that they stay locked down (issue 16):
  - the API needs API keys unless ALLOW_ANONYMOUS is set on purpose (the shipped files keep it
    off); METRICS_TOKEN reaches the API and the workers;
  - in Kubernetes the API is a ClusterIP Service behind a TLS Ingress (bodies of 60 MB, long
    timeouts, /v1 only), never a LoadBalancer or NodePort;
  - every pod and container runs as the Dockerfile's non-root UID with a read-only root, no
    privilege escalation, no capabilities, seccomp RuntimeDefault, no service-account token,
    and emptyDirs where the process writes (DATA_DIR, /tmp);
  - a NetworkPolicy selects every pod: API only from the ingress controller (and monitoring),
    worker metrics only from monitoring, egress only to PostgreSQL, Redis, S3 and DNS, and
    (API and workers, for webhooks) HTTPS to public addresses, every private range excepted;
  - the API and workers log in to PostgreSQL as the application role, never as the migration
    owner or `postgres`, and reach S3 as the bucket-limited user, never with the MinIO root
    keys; the bucket policy names only the one bucket; deploy/postgres/roles.sql gives the
    application role row access only (checked on a scratch PostgreSQL cluster when one can be
    started);
  - deploy/.env is ignored by git and .env.example names every variable compose reads, with
    no secret filled in.
Usage: scripts/check-deploy.py path/to/aso-render
"""
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile

import yaml

root = pathlib.Path(os.environ.get("ASO_DEPLOY_ROOT") or pathlib.Path(__file__).resolve().parent.parent)
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / ".build/debug/aso-render")
problems = []
notes = []


def problem(text):
    problems.append(text)


config = subprocess.run([binary, "config"], capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
known_variables = {line.split()[0] for line in config.stdout.splitlines() if line.strip()}
help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
subcommands = set(re.findall(r"^\s{2}(\w[\w-]*)\s", help_text.split("SUBCOMMANDS:")[-1], re.M))
openapi = json.loads((root / "Sources/RenderService/Resources/openapi.json").read_text())
routes = set(openapi["paths"])

# Facts of the spec and of the code the files must keep.
API_PORT = "8089"
API_RESOURCES = {"requests": {"memory": "256Mi", "cpu": "250m"}, "limits": {"memory": "512Mi", "cpu": "500m"}}
MIN_BODY_BYTES = 60 * 1024 * 1024  # 50 MB uploads plus form fields and framing
MIN_PROXY_TIMEOUT = 120  # seconds; ingress-nginx's default of 60 cuts slow 50 MB uploads
MONITORING_NAMESPACE = "monitoring"
MINIO_DEFAULT_ROOT_USERS = {"minioadmin", "root", "admin"}
APP_TABLE_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "DELETE"}


def check_variables(where, names):
    for name in names:
        if name not in known_variables:
            problem(f"{where}: sets {name}, which the service does not read")


def check_command(where, args):
    if args and args[0] not in subcommands:
        problem(f"{where}: runs `{args[0]}`, not an aso-render subcommand ({sorted(subcommands)})")


def truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes")


# --- Dockerfile -----------------------------------------------------------------------------
dockerfile = (root / "deploy/Dockerfile").read_text()
for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
    for path in source.split():
        if not (root / path).exists():
            problem(f"Dockerfile copies {path}, which does not exist")
env_block = re.search(r"^ENV ((?:.*\\\n)*.*)$", dockerfile, re.M)
image_environment = dict(re.findall(r"(\w+)=(\S+)", env_block.group(1))) if env_block else {}
check_variables("Dockerfile", image_environment)
for path in re.findall(r"curl -f\w* http://localhost:\d+(\S+)", dockerfile):
    if path not in routes:
        problem(f"Dockerfile health check uses {path}, not a route")
if "--product aso-render" not in dockerfile:
    problem("Dockerfile does not build the aso-render product")
# The runtime stage's user: numeric (so Kubernetes' runAsNonRoot can verify it) and not root.
users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
image_uid = image_gid = None
if not users:
    problem("Dockerfile: the runtime image has no USER (it would run as root)")
else:
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    if not match:
        problem(f"Dockerfile: USER {users[-1]} is not numeric, so runAsNonRoot cannot verify it (use USER uid:gid)")
    elif int(match.group(1)) == 0 or match.group(2) == "0":
        problem(f"Dockerfile: USER {users[-1]} is root")
    else:
        image_uid, image_gid = int(match.group(1)), int(match.group(2) or match.group(1))
data_dir = image_environment.get("DATA_DIR")
if not data_dir:
    problem("Dockerfile: ENV sets no DATA_DIR (where the service writes)")
elif image_uid is not None and not re.search(rf"chown\s+{image_uid}(:\d+)?\s+{re.escape(data_dir)}\b", dockerfile):
    problem(f"Dockerfile: DATA_DIR {data_dir} is not chowned to the image's user {image_uid}")
WRITABLE_PATHS = [path for path in (data_dir, "/tmp") if path]


# --- docker-compose.yml ---------------------------------------------------------------------
compose_text = (root / "deploy/docker-compose.yml").read_text()
compose = yaml.safe_load(compose_text)
services = compose["services"]


def reference(value):
    """`${NAME:-default}` / `${NAME:?message}` / `${NAME}` → (NAME, default or None); a literal → (None, value)."""
    match = re.fullmatch(r"\$\{(\w+)(?:(:?-)([^}]*)|:?\?[^}]*)?\}", str(value))
    if not match:
        return None, str(value)
    return match.group(1), match.group(3)


def resolved(value):
    """What a compose value is when .env does not override it (the default, or the literal)."""
    return reference(value)[1]


def same_source(a, b):
    """Two compose values that come from the same variable (or are the same literal)."""
    (name_a, literal_a), (name_b, literal_b) = reference(a), reference(b)
    return (name_a is not None and name_a == name_b) or (name_a is None and name_b is None and literal_a == literal_b)


for name, service in services.items():
    for dependency in (service.get("depends_on") or {}):
        if dependency not in services:
            problem(f"compose service {name} depends on unknown service {dependency}")
    if str(service.get("image", "")).startswith("aso/pop-render-api"):
        check_variables(f"compose service {name}", (service.get("environment") or {}).keys())
        check_command(f"compose service {name}", service.get("command") or [])
        for step in (service.get("healthcheck") or {}).get("test", [])[1:]:
            for path in re.findall(r"http://localhost:\d+(\S+)", step):
                if path not in routes:
                    problem(f"compose service {name} health check uses {path}, not a route")
        if "ALL" not in (service.get("cap_drop") or []):
            problem(f"compose service {name}: cap_drop does not drop ALL capabilities")
        if not any(str(option).replace("=", ":").startswith("no-new-privileges:true") for option in service.get("security_opt") or []):
            problem(f"compose service {name}: security_opt lacks no-new-privileges:true")
    for volume in service.get("volumes") or []:
        source = str(volume).split(":")[0]
        if source.startswith("."):
            if not (root / "deploy" / source).exists():
                problem(f"compose service {name} mounts {source}, which does not exist")
for required in ("postgres", "redis", "minio", "minio-setup", "migrate", "api", "worker"):
    if required not in services:
        problem(f"compose has no {required} service")


def compose_environment(name):
    return {key: str(value) for key, value in ((services.get(name) or {}).get("environment") or {}).items()}


api_env, worker_env, migrate_env = compose_environment("api"), compose_environment("worker"), compose_environment("migrate")
postgres_env, minio_env, setup_env = compose_environment("postgres"), compose_environment("minio"), compose_environment("minio-setup")
app_services = {"api": api_env, "worker": worker_env}

# Access control: API keys required unless ALLOW_ANONYMOUS is opted into; off by default.
if "API_KEYS" not in api_env:
    problem("compose service api: API_KEYS is not passed through")
if "ALLOW_ANONYMOUS" not in api_env:
    problem("compose service api: ALLOW_ANONYMOUS is not passed through (the explicit opt-in)")
elif truthy(resolved(api_env["ALLOW_ANONYMOUS"]) or ""):
    problem(f"compose service api: ALLOW_ANONYMOUS defaults to {api_env['ALLOW_ANONYMOUS']}: anonymous access must be off unless asked for")
if "API_KEYS" in api_env and "URL_SIGNING_SECRET" not in api_env:
    problem("compose service api: URL_SIGNING_SECRET (which keys the API keys' owner ids) is not passed through")
for name, environment in app_services.items():
    if "METRICS_TOKEN" not in environment:
        problem(f"compose service {name}: METRICS_TOKEN is not passed through")

# PostgreSQL: the app role for api/worker, the owner for migrate, neither the superuser.
superuser_password = postgres_env.get("POSTGRES_PASSWORD", "")
superuser = resolved(postgres_env.get("POSTGRES_USER", "postgres")) or "postgres"
if "DB_USER" not in migrate_env or "DB_PASSWORD" not in migrate_env:
    problem("compose service migrate: DB_USER and DB_PASSWORD (the migration owner) are not set")
for name, environment in app_services.items():
    user, password = environment.get("DB_USER"), environment.get("DB_PASSWORD")
    if user is None or password is None:
        problem(f"compose service {name}: DB_USER and DB_PASSWORD (the application role) are not set")
        continue
    if same_source(user, migrate_env.get("DB_USER", "")) or same_source(password, migrate_env.get("DB_PASSWORD", "")):
        problem(f"compose service {name}: logs in to PostgreSQL as the migration owner (DB_USER/DB_PASSWORD of migrate)")
    if (resolved(user) or "") == superuser or same_source(password, superuser_password):
        problem(f"compose service {name}: logs in to PostgreSQL as the superuser {superuser}")
    if not same_source(user, postgres_env.get("DB_APP_USER", "")) or not same_source(password, postgres_env.get("DB_APP_PASSWORD", "")):
        problem(f"compose service {name}: DB_USER/DB_PASSWORD are not the application role postgres creates (DB_APP_USER/DB_APP_PASSWORD)")
if (resolved(migrate_env.get("DB_USER", "")) or "") == superuser or same_source(migrate_env.get("DB_PASSWORD", ""), superuser_password):
    problem(f"compose service migrate: logs in to PostgreSQL as the superuser {superuser}, not the schema owner")
if not same_source(migrate_env.get("DB_USER", ""), postgres_env.get("DB_MIGRATE_USER", "")) or not same_source(
        migrate_env.get("DB_PASSWORD", ""), postgres_env.get("DB_MIGRATE_PASSWORD", "")):
    problem("compose service migrate: DB_USER/DB_PASSWORD are not the owner role postgres creates (DB_MIGRATE_USER/DB_MIGRATE_PASSWORD)")
init_scripts = [str(volume) for volume in (services.get("postgres") or {}).get("volumes") or []
                if ":/docker-entrypoint-initdb.d/" in str(volume)]
if not any("init-roles.sh" in volume for volume in init_scripts):
    problem("compose service postgres: deploy/postgres/init-roles.sh is not mounted into /docker-entrypoint-initdb.d")
roles_target = re.search(r"-f\s+(\S+)", (root / "deploy/postgres/init-roles.sh").read_text())
if not roles_target or not any(str(volume).startswith("./postgres/roles.sql:" + roles_target.group(1))
                               for volume in (services.get("postgres") or {}).get("volumes") or []):
    problem("compose service postgres: roles.sql is not mounted where init-roles.sh reads it")

# MinIO: api/worker use the user minio-setup creates, never the root keys; migrate gets no keys.
root_user, root_password = minio_env.get("MINIO_ROOT_USER", ""), minio_env.get("MINIO_ROOT_PASSWORD", "")
for name, environment in app_services.items():
    access, secret = environment.get("MINIO_ACCESS_KEY", ""), environment.get("MINIO_SECRET_KEY", "")
    if same_source(access, root_user) or same_source(secret, root_password) or (resolved(access) or "") in MINIO_DEFAULT_ROOT_USERS:
        problem(f"compose service {name}: reaches S3 with the MinIO root keys")
    if not same_source(access, setup_env.get("MINIO_APP_ACCESS_KEY", "")) or not same_source(secret, setup_env.get("MINIO_APP_SECRET_KEY", "")):
        problem(f"compose service {name}: MINIO_ACCESS_KEY/MINIO_SECRET_KEY are not the user minio-setup creates")
    if environment.get("MINIO_BUCKET") != setup_env.get("MINIO_BUCKET"):
        problem(f"compose service {name}: MINIO_BUCKET {environment.get('MINIO_BUCKET')} is not the bucket minio-setup prepares")
    if (((services.get(name) or {}).get("depends_on") or {}).get("minio-setup") or {}).get("condition") != "service_completed_successfully":
        problem(f"compose service {name}: does not wait for minio-setup to complete")
for key in ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
    value = migrate_env.get(key, "")
    if reference(value)[0] is not None:
        problem(f"compose service migrate: {key} comes from {value}: the migration needs no S3 credentials")
if same_source(setup_env.get("MINIO_APP_ACCESS_KEY", ""), root_user):
    problem("compose service minio-setup: the application user is the root user")

# deploy/.env: ignored by git; .env.example lists every variable compose reads, secrets empty.
ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "--no-index", "-q", "deploy/.env"], capture_output=True)
if ignored.returncode != 0:
    problem("deploy/.env is not ignored by git (.gitignore)")
tracked = subprocess.run(["git", "-C", str(root), "ls-files", "deploy/.env"], capture_output=True, text=True)
if tracked.stdout.strip():
    problem("deploy/.env is committed")
example_path = root / "deploy/.env.example"
example = dict(re.findall(r"^(\w+)=(.*)$", example_path.read_text(), re.M)) if example_path.exists() else {}
if not example_path.exists():
    problem("deploy/.env.example is missing")
for variable in sorted(set(re.findall(r"\$\{(\w+)", compose_text))):
    if variable not in example:
        problem(f"deploy/.env.example does not mention {variable}, which docker-compose.yml reads")
for variable, value in example.items():
    if re.search(r"PASSWORD|SECRET|TOKEN|API_KEYS", variable) and value.strip():
        problem(f"deploy/.env.example fills in {variable}: leave secrets empty so compose refuses to start until they are set")
if truthy(example.get("ALLOW_ANONYMOUS", "")):
    problem("deploy/.env.example turns ALLOW_ANONYMOUS on")


# --- Kubernetes -----------------------------------------------------------------------------
documents = []
for path in sorted((root / "deploy/kubernetes").glob("*.yaml")):
    documents += [(path.name, document) for document in yaml.safe_load_all(path.read_text()) if document]
secret_data = {d["metadata"]["name"]: dict(d.get("stringData") or d.get("data") or {}) for _, d in documents if d["kind"] == "Secret"}
secrets = {name: set(data) for name, data in secret_data.items()}
config_maps = {d["metadata"]["name"]: d.get("data") or {} for _, d in documents if d["kind"] == "ConfigMap"}
kinds = {document["kind"] for _, document in documents}
workloads = [(file, d) for file, d in documents if d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob")]


def pod_template(document):
    spec = document["spec"]
    return spec["jobTemplate"]["spec"]["template"] if document["kind"] == "CronJob" else spec["template"]


def matches(selector, labels):
    """A label selector (matchLabels only; matchExpressions make it select nothing here) against labels."""
    if selector is None or selector.get("matchExpressions"):
        return False
    return all(labels.get(key) == value for key, value in (selector.get("matchLabels") or {}).items())


def container_environment(container):
    """Name → (literal value or None, secretKeyRef or None), config maps first, env over them."""
    environment = {}
    for source in container.get("envFrom", []):
        for key, value in (config_maps.get((source.get("configMapRef") or {}).get("name")) or {}).items():
            environment[key] = (str(value), None)
    for variable in container.get("env", []):
        environment[variable["name"]] = (variable.get("value"), (variable.get("valueFrom") or {}).get("secretKeyRef"))
    return environment


def secret_value(reference):
    return str((secret_data.get(reference["name"]) or {}).get(reference["key"], ""))


def role(container):
    return (container.get("args") or container.get("command") or [""])[0]


used_config_maps = set()
app_database, migrate_database = {}, {}
for file, document in workloads:
    template = pod_template(document)
    pod = template["spec"]
    labels = (template.get("metadata") or {}).get("labels") or {}
    name = document["metadata"]["name"]
    if not labels:
        problem(f"{file} {name}: the pod template has no labels, so no NetworkPolicy can select it")
    # The pod: no service-account token, the image's non-root user, seccomp.
    if pod.get("automountServiceAccountToken") is not False:
        problem(f"{file} {name}: automountServiceAccountToken is not false")
    pod_security = pod.get("securityContext") or {}
    if pod_security.get("runAsNonRoot") is not True:
        problem(f"{file} {name}: pod securityContext.runAsNonRoot is not true")
    if image_uid is not None and pod_security.get("runAsUser") != image_uid:
        problem(f"{file} {name}: pod securityContext.runAsUser is {pod_security.get('runAsUser')}, not the Dockerfile's user {image_uid}")
    if image_gid is not None and pod_security.get("runAsGroup", image_gid) != image_gid:
        problem(f"{file} {name}: pod securityContext.runAsGroup is {pod_security.get('runAsGroup')}, not the Dockerfile's group {image_gid}")
    if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problem(f"{file} {name}: pod securityContext.seccompProfile is not RuntimeDefault")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problem(f"{file} {name}: {flag} is on")
    volumes = {volume["name"]: volume for volume in pod.get("volumes") or []}
    for container in (pod.get("initContainers") or []) + pod["containers"]:
        where = f"{file} {name}/{container['name']}"
        check_command(where, container.get("args") or [])
        check_variables(where, [variable["name"] for variable in container.get("env", [])])
        for variable in container.get("env", []):
            reference_ = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if reference_ and reference_["key"] not in secrets.get(reference_["name"], set()):
                problem(f"{where}: secret {reference_['name']}/{reference_['key']} is not defined")
        for source in container.get("envFrom", []):
            config_name = (source.get("configMapRef") or {}).get("name")
            if config_name:
                used_config_maps.add(config_name)
                if config_name not in config_maps:
                    problem(f"{where}: config map {config_name} is not defined")
            secret_name = (source.get("secretRef") or {}).get("name")
            if secret_name and secret_name not in secrets:
                problem(f"{where}: secret {secret_name} is not defined")
        environment = {variable["name"]: variable.get("value") for variable in container.get("env", [])}
        port = environment.get("WORKER_METRICS_PORT" if (container.get("args") or [""])[0] == "worker" else "API_PORT")
        for probe in ("livenessProbe", "readinessProbe"):
            check = (container.get(probe) or {}).get("httpGet") or {}
            if check.get("path") and check["path"] not in routes:
                problem(f"{where}: {probe} uses {check['path']}, not a route")
            if check and str(check.get("port")) != str(port):
                problem(f"{where}: {probe} probes port {check.get('port')}, but the process listens on {port}")
        if container.get("args", [None])[0] == "serve":
            for probe, path in (("livenessProbe", "/health/liveness"), ("readinessProbe", "/health/readiness")):
                if ((container.get(probe) or {}).get("httpGet") or {}).get("path") != path:
                    problem(f"{where}: {probe} should use {path}")

        # The container: locked down, writing only to emptyDirs.
        security = container.get("securityContext") or {}
        if security.get("runAsNonRoot") is not True:
            problem(f"{where}: securityContext.runAsNonRoot is not true")
        if image_uid is not None and security.get("runAsUser", pod_security.get("runAsUser")) != image_uid:
            problem(f"{where}: runs as UID {security.get('runAsUser', pod_security.get('runAsUser'))}, not the Dockerfile's user {image_uid}")
        if security.get("readOnlyRootFilesystem") is not True:
            problem(f"{where}: securityContext.readOnlyRootFilesystem is not true")
        if security.get("allowPrivilegeEscalation") is not False:
            problem(f"{where}: securityContext.allowPrivilegeEscalation is not false")
        if security.get("privileged"):
            problem(f"{where}: securityContext.privileged is on")
        capabilities = security.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problem(f"{where}: securityContext.capabilities does not drop ALL")
        if capabilities.get("add"):
            problem(f"{where}: securityContext.capabilities adds {capabilities['add']}")
        if (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problem(f"{where}: seccompProfile is not RuntimeDefault")
        values = container_environment(container)
        container_data_dir = (values.get("DATA_DIR") or (None, None))[0] or data_dir
        mounts = {mount["mountPath"].rstrip("/"): mount for mount in container.get("volumeMounts") or []}
        for path in [container_data_dir, "/tmp"]:
            mount = mounts.get(path.rstrip("/")) if path else None
            if mount is None:
                problem(f"{where}: nothing is mounted at {path}, where the process writes (the root filesystem is read-only)")
            elif mount.get("readOnly") or "emptyDir" not in (volumes.get(mount["name"]) or {}):
                problem(f"{where}: {path} is not a writable emptyDir")

        # Credentials: the application role and S3 user, or the migration owner.
        database_user, database_password = values.get("DB_USER", (None, None)), values.get("DB_PASSWORD", (None, None))
        if database_user[1] is None or database_password[1] is None:
            problem(f"{where}: DB_USER and DB_PASSWORD do not both come from a secret in the container's env")
        else:
            record = (database_user[1]["name"], database_password[1]["name"], secret_value(database_user[1]))
            (migrate_database if role(container) == "migrate" else app_database)[where] = record
            if record[2] in ("postgres", superuser):
                problem(f"{where}: logs in to PostgreSQL as the superuser {record[2]}")
        s3 = [values.get(key, (None, None)) for key in ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")]
        if role(container) == "migrate":
            if any(reference_ for _, reference_ in s3):
                problem(f"{where}: the migration job holds S3 credentials it never uses")
        else:
            if not all(reference_ for _, reference_ in s3):
                problem(f"{where}: MINIO_ACCESS_KEY and MINIO_SECRET_KEY do not both come from a secret")
            elif "root" in s3[0][1]["name"].lower() or "root" in s3[0][1]["key"].lower() or secret_value(s3[0][1]) in MINIO_DEFAULT_ROOT_USERS:
                problem(f"{where}: reaches S3 with MinIO root keys ({s3[0][1]['name']}/{s3[0][1]['key']})")
        if any(re.match(r"MINIO_ROOT", key) for key in values):
            problem(f"{where}: is given MinIO root credentials")

        # Access control.
        if role(container) == "serve":
            allow_anonymous = (values.get("ALLOW_ANONYMOUS") or (None, None))[0]
            if allow_anonymous is None:
                problem(f"{where}: ALLOW_ANONYMOUS is not set explicitly (\"false\")")
            elif truthy(allow_anonymous):
                problem(f"{where}: ALLOW_ANONYMOUS is on in the shipped manifests")
            if not truthy(allow_anonymous or ""):
                for key, why in (("API_KEYS", "the API could start without keys"),
                                 ("URL_SIGNING_SECRET", "replicas could key owner ids differently")):
                    source = values.get(key, (None, None))[1]
                    if source is None:
                        problem(f"{where}: {key} does not come from a secret")
                    elif source.get("optional"):
                        problem(f"{where}: the {key} secret is optional, so {why}")
            if str(environment.get("API_PORT")) != API_PORT or API_PORT not in [str(p.get("containerPort")) for p in container.get("ports") or []]:
                problem(f"{where}: the API does not listen on the spec's port {API_PORT}")
            if container.get("resources") != API_RESOURCES:
                problem(f"{where}: resources {container.get('resources')} are not the spec's {API_RESOURCES}")
        if role(container) in ("serve", "worker") and "METRICS_TOKEN" not in values:
            problem(f"{where}: METRICS_TOKEN is not passed through")

for name, data in config_maps.items():
    if name in used_config_maps:
        check_variables(f"ConfigMap {name}", data.keys())
        for key in ("DB_USER", "DB_PASSWORD", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "API_KEYS", "ALLOW_ANONYMOUS"):
            if key in data:
                problem(f"ConfigMap {name}: sets {key}, which differs between the pods (or is a secret)")
if not migrate_database:
    problem("kubernetes: no migration job logs in as the schema owner")
for where, (user_secret, password_secret, user) in app_database.items():
    for _, (owner_user_secret, owner_password_secret, owner) in migrate_database.items():
        if {user_secret, password_secret} & {owner_user_secret, owner_password_secret} or user == owner:
            problem(f"{where}: logs in to PostgreSQL with the migration job's credentials ({user_secret}, {user})")

# The API's way in: a ClusterIP Service and a TLS Ingress, never a LoadBalancer or NodePort.
workload_labels = [(pod_template(d).get("metadata") or {}).get("labels") or {} for _, d in workloads]
services_k8s = [d for _, d in documents if d["kind"] == "Service"]
api_services = [s for s in services_k8s if (s["spec"].get("selector") or {}).get("app") == "pop-render-api"]
for service in services_k8s:
    selector = {"matchLabels": service["spec"].get("selector") or {}}
    if service["spec"].get("type", "ClusterIP") in ("LoadBalancer", "NodePort") and any(matches(selector, labels) for labels in workload_labels):
        problem(f"Service {service['metadata']['name']} is of type {service['spec']['type']}: the API is reached through the Ingress")
if not api_services:
    problem("kubernetes: no Service selects the API pods")
for service in api_services:
    if not any(str(port.get("targetPort")) in (API_PORT, "http") for port in service["spec"].get("ports") or []):
        problem(f"Service {service['metadata']['name']} does not target port {API_PORT}")


def size_bytes(text):
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", str(text).strip())
    if not match:
        return None
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[match.group(2).lower()]


ingresses = [d for _, d in documents if d["kind"] == "Ingress"]
api_service_names = {s["metadata"]["name"] for s in api_services}
api_ingresses = [i for i in ingresses if any(
    ((path.get("backend") or {}).get("service") or {}).get("name") in api_service_names
    for rule in i["spec"].get("rules") or [] for path in (rule.get("http") or {}).get("paths") or [])]
if not api_ingresses:
    problem("kubernetes: no Ingress routes to the API's Service")
for ingress in api_ingresses:
    where = f"Ingress {ingress['metadata']['name']}"
    annotations = ingress["metadata"].get("annotations") or {}
    tls_hosts = {host for tls in ingress["spec"].get("tls") or [] if tls.get("secretName") for host in tls.get("hosts") or []}
    for rule in ingress["spec"].get("rules") or []:
        if rule.get("host") not in tls_hosts:
            problem(f"{where}: host {rule.get('host')} has no TLS")
        for path in (rule.get("http") or {}).get("paths") or []:
            if not path.get("path", "/").startswith("/v1"):
                problem(f"{where}: exposes {path.get('path', '/')}: only /v1 goes outside (/metrics and /health stay in the cluster)")
            backend = (path.get("backend") or {}).get("service") or {}
            service = next((s for s in api_services if s["metadata"]["name"] == backend.get("name")), None)
            wanted = backend.get("port") or {}
            if service and not any(p.get("name") == wanted.get("name") if "name" in wanted else p.get("port") == wanted.get("number")
                                   for p in service["spec"].get("ports") or []):
                problem(f"{where}: routes to port {wanted} which Service {service['metadata']['name']} does not have")
    if str(annotations.get("nginx.ingress.kubernetes.io/ssl-redirect", "true")).lower() == "false":
        problem(f"{where}: ssl-redirect is off")
    body = size_bytes(annotations.get("nginx.ingress.kubernetes.io/proxy-body-size", "1m"))
    if body is None or body == 0 or body < MIN_BODY_BYTES:
        problem(f"{where}: proxy-body-size {annotations.get('nginx.ingress.kubernetes.io/proxy-body-size', '1m (default)')} "
                f"is not a limit of at least 60m (50 MB uploads)")
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        value = annotations.get(f"nginx.ingress.kubernetes.io/{timeout}", "60")
        if not str(value).isdigit() or int(value) < MIN_PROXY_TIMEOUT:
            problem(f"{where}: {timeout} is {value} s, under {MIN_PROXY_TIMEOUT} s for slow 50 MB uploads")

# NetworkPolicies: every pod selected, both directions, the narrow peers.
policies = [d for _, d in documents if d["kind"] == "NetworkPolicy"]
settings = config_maps.get("aso-render-config") or {}
endpoint = settings.get("MINIO_ENDPOINT", "")
dependency_ports = {
    "PostgreSQL": int(settings.get("DB_PORT", 5432)), "Redis": int(settings.get("REDIS_PORT", 6379)),
    "S3": int(re.search(r":(\d+)(?:/|$)", endpoint).group(1)) if re.search(r":(\d+)(?:/|$)", endpoint) else 443, "DNS": 53}


# Webhooks go to public HTTPS receivers: a rule to all addresses must except these (the ranges
# `WebhookURL` refuses) and open only port 443.
PRIVATE_RANGES = {
    "0.0.0.0/0": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"],
    "::/0": ["fc00::/7", "fe80::/10", "::1/128"],
}
WEBHOOK_PORT = 443


def namespace_of(peer):
    return ((peer.get("namespaceSelector") or {}).get("matchLabels") or {}).get("kubernetes.io/metadata.name")


for file, document in workloads:
    template = pod_template(document)
    labels = (template.get("metadata") or {}).get("labels") or {}
    name = document["metadata"]["name"]
    selecting = [p for p in policies if matches(p["spec"].get("podSelector"), labels)]
    if not selecting:
        problem(f"{file} {name}: no NetworkPolicy selects its pods")
        continue
    types = {t for p in selecting for t in p["spec"].get("policyTypes") or []}
    for direction in ("Ingress", "Egress"):
        if direction not in types:
            problem(f"{file} {name}: no NetworkPolicy restricts its {direction.lower()}")
    container_roles = {role(c) for c in pod_template(document)["spec"]["containers"]}
    listen = {"serve": int(API_PORT), "worker": 9091}
    for policy in selecting:
        where = f"NetworkPolicy {policy['metadata']['name']}"
        for rule in policy["spec"].get("ingress") or []:
            peers, ports = rule.get("from") or [], rule.get("ports") or []
            if not peers or not ports:
                problem(f"{where}: an ingress rule without from/ports lets anything reach {name}")
                continue
            for peer in peers:
                namespace = namespace_of(peer)
                if "ipBlock" in peer or namespace is None:
                    problem(f"{where}: lets in {peer}, not the ingress controller's or the monitoring namespace")
                elif "serve" in container_roles and namespace != MONITORING_NAMESPACE and "ingress" not in namespace:
                    problem(f"{where}: lets namespace {namespace} reach the API (only the ingress controller and {MONITORING_NAMESPACE})")
                elif "serve" in container_roles and "ingress" in namespace and not peer.get("podSelector"):
                    problem(f"{where}: lets all of namespace {namespace} reach the API, not only the controller's pods")
                elif "serve" not in container_roles and ("worker" not in container_roles or namespace != MONITORING_NAMESPACE):
                    problem(f"{where}: lets namespace {namespace} reach {name} (only {MONITORING_NAMESPACE} may, and only a worker's metrics)")
            wanted = [listen[r] for r in container_roles if r in listen]
            for port in ports:
                if port.get("port") not in wanted:
                    problem(f"{where}: opens port {port.get('port')} of {name}, which listens on {wanted or 'nothing'}")
        if "serve" in container_roles and not any(
                "ingress" in (namespace_of(peer) or "") for rule in policy["spec"].get("ingress") or [] for peer in rule.get("from") or []):
            problem(f"{where}: the ingress controller cannot reach the API")
        reachable = set()
        for rule in policy["spec"].get("egress") or []:
            peers, ports = rule.get("to") or [], rule.get("ports") or []
            if not peers or not ports:
                problem(f"{where}: an egress rule without to/ports lets {name} reach anything")
                continue
            wide = [peer["ipBlock"] for peer in peers if (peer.get("ipBlock") or {}).get("cidr") in PRIVATE_RANGES]
            if wide:
                # The webhook rule: HTTPS to the internet less every range the service refuses.
                for block in wide:
                    missing = [r for r in PRIVATE_RANGES[block["cidr"]] if r not in (block.get("except") or [])]
                    if missing:
                        problem(f"{where}: egress to {block['cidr']} does not except {', '.join(missing)} (webhooks must not reach private addresses)")
                if len(wide) < len(peers):
                    problem(f"{where}: the webhook rule mixes public addresses with other peers")
                if not container_roles & {"serve", "worker"}:
                    problem(f"{where}: {name} sends no webhooks but may reach the internet")
                for port in ports:
                    if port.get("port") != WEBHOOK_PORT:
                        problem(f"{where}: egress to the internet on port {port.get('port')}, not only HTTPS ({WEBHOOK_PORT})")
                continue
            for port in ports:
                if port.get("port") not in dependency_ports.values():
                    problem(f"{where}: egress to port {port.get('port')}, not PostgreSQL, Redis, S3 or DNS {sorted(set(dependency_ports.values()))}")
                reachable.add(port.get("port"))
        needed = ["PostgreSQL", "DNS"] + (["Redis", "S3"] if container_roles & {"serve", "worker"} else [])
        if "Egress" in (policy["spec"].get("policyTypes") or []):
            for dependency in needed:
                if dependency_ports[dependency] not in reachable:
                    problem(f"{where}: {name} cannot reach {dependency} (port {dependency_ports[dependency]})")

# The S3 policy: only the one bucket, no administration; the same document as compose's.
bucket = settings.get("MINIO_BUCKET", "render-assets")
policy_files = {"deploy/minio/app-policy.json": (root / "deploy/minio/app-policy.json").read_text()
                if (root / "deploy/minio/app-policy.json").exists() else None}
policy_files.update({f"ConfigMap {name}/{key}": value for name, data in config_maps.items()
                     for key, value in data.items() if key.endswith(".json") and "Statement" in str(value)})
parsed_policies = {}
for where, text in policy_files.items():
    if text is None:
        problem(f"{where} is missing")
        continue
    try:
        document = json.loads(text)
    except ValueError as error:
        problem(f"{where}: not JSON ({error})")
        continue
    parsed_policies[where] = document
    for statement in document.get("Statement") or []:
        actions = statement.get("Action") if isinstance(statement.get("Action"), list) else [statement.get("Action")]
        resources = statement.get("Resource") if isinstance(statement.get("Resource"), list) else [statement.get("Resource")]
        for action in actions:
            if "*" in str(action) or not str(action).startswith("s3:") or re.search(r"Bucket(Policy|Acl)|CreateBucket|DeleteBucket$|PutBucket", str(action)):
                problem(f"{where}: grants {action}")
        for resource in resources:
            if resource not in (f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"):
                problem(f"{where}: names {resource}, not only bucket {bucket}")
if len(parsed_policies) < 2:
    problem("kubernetes: no ConfigMap carries the S3 policy of deploy/minio/app-policy.json")
elif len({json.dumps(p, sort_keys=True) for p in parsed_policies.values()}) > 1:
    problem(f"the S3 policies differ: {sorted(parsed_policies)}")

for kind in ("Deployment", "Service", "Secret", "Ingress", "NetworkPolicy"):
    if kind not in kinds:
        problem(f"kubernetes manifests have no {kind}")


# --- deploy/postgres/roles.sql --------------------------------------------------------------
roles_sql = (root / "deploy/postgres/roles.sql").read_text()
statements = [s.strip() for s in re.sub(r"^\s*--.*$", "", roles_sql, flags=re.M).split(";")]
app_grants = [re.sub(r"\s+", " ", s) for s in statements if re.search(r"\bGRANT\b.*\bTO\b[^;]*:\"app_role\"", s, re.S)]
for grant in app_grants:
    privileges = re.search(r"GRANT (.+?) ON (.+?) TO", grant)
    if not privileges:
        problem(f"roles.sql: cannot read `{grant}`")
        continue
    granted = {p.strip().upper() for p in privileges.group(1).split(",")}
    target = privileges.group(2).upper()
    allowed = (APP_TABLE_PRIVILEGES if "TABLE" in target else {"USAGE"} if "SEQUENCE" in target or "SCHEMA" in target
               else {"CONNECT"} if "DATABASE" in target else set())
    if "format(" in grant:  # GRANT CONNECT ON DATABASE %I TO %I, %I
        allowed = {"CONNECT"}
    if not granted <= allowed:
        problem(f"roles.sql: gives the application role {sorted(granted - allowed)} ({grant})")
if not re.search(r"ALTER DEFAULT PRIVILEGES FOR ROLE :\"owner_role\".*GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :\"app_role\"", roles_sql):
    problem("roles.sql: tables the migrations create later are not granted to the application role")
if re.search(r"GRANT\s+:\"owner_role\"\s+TO|GRANT\s+[^;]*\bTO\s+:\"app_role\"\s+WITH", roles_sql):
    problem("roles.sql: the application role is a member of the owner or may grant on")


def check_roles_on_scratch_cluster():
    """Applies roles.sql to a throwaway cluster, the migrations as the owner, then tries the
    application role: rows yes, schema no."""
    bins = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)])
    initdb = shutil.which("initdb") if not bins else str(bins[-1])
    if not initdb or not shutil.which("psql"):
        notes.append("roles.sql: no PostgreSQL server here, checked statically only")
        return
    pg_bin = pathlib.Path(initdb).parent
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    directory = tempfile.mkdtemp(prefix="check-deploy-pg-")
    os.chmod(directory, 0o777)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    base = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", directory, "-p", port]

    def psql(user, *args, database="aso_render"):
        return subprocess.run(base + ["-U", user, "-d", database, *args], capture_output=True, text=True)

    try:
        subprocess.run(as_postgres + [str(pg_bin / "initdb"), "-D", f"{directory}/data", "-U", "postgres", "--auth=trust", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run(as_postgres + [str(pg_bin / "pg_ctl"), "-D", f"{directory}/data", "-l", f"{directory}/log", "-w", "-o",
                                      f"-p {port} -k {directory} -c listen_addresses='' -c fsync=off", "start"],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL)
        psql("postgres", "-c", "CREATE DATABASE aso_render", database="postgres")
        applied = psql("postgres", "-v", "owner_role=aso_owner", "-v", "owner_password=owner-secret", "-v", "app_role=aso_app",
                       "-v", "app_password=app-secret", "-f", str(root / "deploy/postgres/roles.sql"))
        if applied.returncode != 0:
            problem(f"roles.sql fails on PostgreSQL: {applied.stderr.strip()}")
            return
        for migration in sorted((root / "db/migrations").glob("*.sql")):
            result = psql("aso_owner", "-f", str(migration))
            if result.returncode != 0:
                problem(f"roles.sql: the owner role cannot apply {migration.name}: {result.stderr.strip()}")
        psql("aso_owner", "-c", "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
             "-c", "CREATE TABLE check_deploy_later (id bigserial PRIMARY KEY, note TEXT)")
        allowed = {
            "read rows": "SELECT count(*) FROM renders",
            "read the migration list": "SELECT name FROM schema_migrations",
            "write rows": "INSERT INTO check_deploy_later (note) VALUES ('x')",
            "change rows": "UPDATE check_deploy_later SET note = 'y'",
            "delete rows": "DELETE FROM check_deploy_later",
            "take the migration lock": "SELECT pg_advisory_lock(1)",
        }
        refused = {
            "create tables": "CREATE TABLE check_deploy_app (id int)",
            "alter tables": "ALTER TABLE renders ADD COLUMN check_deploy int",
            "drop tables": "DROP TABLE idempotency_keys",
            "truncate tables": "TRUNCATE renders",
            "create temporary tables": "CREATE TEMPORARY TABLE check_deploy_temp (id int)",
            "create schemas": "CREATE SCHEMA check_deploy",
            "grant to others": "GRANT SELECT ON renders TO PUBLIC",
        }
        for what, sql in allowed.items():
            result = psql("aso_app", "-c", sql)
            if result.returncode != 0:
                problem(f"roles.sql: the application role cannot {what}: {result.stderr.strip()}")
        for what, sql in refused.items():
            result = psql("aso_app", "-c", sql)
            # A GRANT without the right to is a warning, not an error.
            if result.returncode == 0 and "no privileges were granted" not in result.stderr:
                problem(f"roles.sql: the application role may {what}")
        owned = psql("postgres", "-At", "-c", "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = 'aso_app'")
        if owned.stdout.strip() != "0":
            problem("roles.sql: the application role owns objects")
    except (subprocess.CalledProcessError, OSError) as error:
        notes.append(f"roles.sql: scratch PostgreSQL did not start ({error}), checked statically only")
    finally:
        subprocess.run(as_postgres + [str(pg_bin / "pg_ctl"), "-D", f"{directory}/data", "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


if os.environ.get("CHECK_DEPLOY_PG", "1") != "0":
    check_roles_on_scratch_cluster()

for note in notes:
    print(f"note: {note}", file=sys.stderr)
if problems:
    print("deployment files do not match the code:", *problems, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"deploy/: Dockerfile, compose ({len(services)} services) and {len(documents)} Kubernetes objects match the code and are locked down")
