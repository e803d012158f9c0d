#!/usr/bin/env python3
"""Checks the deployment files under deploy/ against the code, since no Docker engine or
cluster runs here: every YAML document parses, every variable they set is one the service reads
(`aso-render config` lists them), secrets and config maps they reference exist, probe paths are
routes of the OpenAPI document, commands are real subcommands, and what the Dockerfile copies
exists.  Usage: scripts/check-deploy.py path/to/aso-render
"""
import json
import pathlib
import re
import subprocess
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / ".build/debug/aso-render")
problems = []


def problem(text):
    problems.append(text)


config = subprocess.run([binary, "config"], capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"})
known_variables = {line.split()[0] for line in config.stdout.splitlines() if line.strip()}
help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
subcommands = set(re.findall(r"^\s{2}(\w[\w-]*)\s", help_text.split("SUBCOMMANDS:")[-1], re.M))
openapi = json.loads((root / "Sources/RenderService/Resources/openapi.json").read_text())
routes = set(openapi["paths"])


def check_variables(where, names):
    for name in names:
        if name not in known_variables:
            problem(f"{where}: sets {name}, which the service does not read")


def check_command(where, args):
    if args and args[0] not in subcommands:
        problem(f"{where}: runs `{args[0]}`, not an aso-render subcommand ({sorted(subcommands)})")


# Dockerfile
dockerfile = (root / "deploy/Dockerfile").read_text()
for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.M):
    for path in source.split():
        if not (root / path).exists():
            problem(f"Dockerfile copies {path}, which does not exist")
env_block = re.search(r"^ENV ((?:.*\\\n)*.*)$", dockerfile, re.M)
check_variables("Dockerfile", re.findall(r"(\w+)=", env_block.group(1)) if env_block else [])
for path in re.findall(r"curl -f\w* http://localhost:\d+(\S+)", dockerfile):
    if path not in routes:
        problem(f"Dockerfile health check uses {path}, not a route")
if "--product aso-render" not in dockerfile:
    problem("Dockerfile does not build the aso-render product")

# docker-compose.yml
compose = yaml.safe_load((root / "deploy/docker-compose.yml").read_text())
services = compose["services"]
for name, service in services.items():
    for dependency in (service.get("depends_on") or {}):
        if dependency not in services:
            problem(f"compose service {name} depends on unknown service {dependency}")
    if str(service.get("image", "")).startswith("aso/render"):
        check_variables(f"compose service {name}", (service.get("environment") or {}).keys())
        check_command(f"compose service {name}", service.get("command") or [])
        for step in (service.get("healthcheck") or {}).get("test", [])[1:]:
            for path in re.findall(r"http://localhost:\d+(\S+)", step):
                if path not in routes:
                    problem(f"compose service {name} health check uses {path}, not a route")
for required in ("postgres", "redis", "minio", "api", "worker"):
    if required not in services:
        problem(f"compose has no {required} service")

# Kubernetes
documents = []
for path in sorted((root / "deploy/kubernetes").glob("*.yaml")):
    documents += [(path.name, document) for document in yaml.safe_load_all(path.read_text()) if document]
secrets = {d["metadata"]["name"]: set((d.get("stringData") or d.get("data") or {}).keys()) for _, d in documents if d["kind"] == "Secret"}
config_maps = {d["metadata"]["name"]: d.get("data") or {} for _, d in documents if d["kind"] == "ConfigMap"}
for name, data in config_maps.items():
    check_variables(f"ConfigMap {name}", data.keys())
kinds = set()
for file, document in documents:
    kinds.add(document["kind"])
    if document["kind"] not in ("Deployment", "Job"):
        continue
    for container in document["spec"]["template"]["spec"]["containers"]:
        where = f"{file} {document['metadata']['name']}/{container['name']}"
        check_command(where, container.get("args") or [])
        check_variables(where, [variable["name"] for variable in container.get("env", [])])
        for variable in container.get("env", []):
            reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if reference and reference["key"] not in secrets.get(reference["name"], set()):
                problem(f"{where}: secret {reference['name']}/{reference['key']} is not defined")
        for source in container.get("envFrom", []):
            name = (source.get("configMapRef") or {}).get("name")
            if name and name not in config_maps:
                problem(f"{where}: config map {name} is not defined")
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
for kind in ("Deployment", "Service", "Secret"):
    if kind not in kinds:
        problem(f"kubernetes manifests have no {kind}")

if problems:
    print("deployment files do not match the code:", *problems, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"deploy/: Dockerfile, compose ({len(services)} services) and {len(documents)} Kubernetes objects match the code")
