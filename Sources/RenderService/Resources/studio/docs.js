// The API reference: /v1/openapi.json rendered as readable HTML — routes, fields, examples,
// error codes. Text only ever goes in through textContent, never as HTML.

const $ = (id) => document.getElementById(id);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function resolve(document, schema) {
  let current = schema || {};
  for (let depth = 0; current.$ref && depth < 10; depth += 1) {
    const path = current.$ref.replace(/^#\//, "").split("/");
    current = path.reduce((node, key) => (node ? node[key] : undefined), document) || {};
  }
  return current;
}

function typeOf(document, schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array") return `array of ${typeOf(document, schema.items)}`;
  let text = schema.type || "object";
  if (schema.format) text += ` (${schema.format})`;
  return text;
}

function paragraphs(text) {
  const box = element("div");
  for (const part of String(text || "").split(/\n\n+/)) if (part.trim()) box.append(element("p", part));
  return box;
}

function table(headings, rows) {
  const grid = element("table");
  const head = element("thead");
  const headRow = element("tr");
  for (const heading of headings) headRow.append(element("th", heading));
  head.append(headRow);
  const body = element("tbody");
  for (const row of rows) {
    const line = element("tr");
    for (const cell of row) {
      const td = element("td");
      if (cell instanceof Node) td.append(cell); else td.textContent = cell;
      line.append(td);
    }
    body.append(line);
  }
  grid.append(head, body);
  return grid;
}

function allowed(schema) {
  if (schema.enum) return schema.enum.filter((value) => value !== "").join(", ");
  if (schema.pattern) return `pattern ${schema.pattern}`;
  if (schema.minimum !== undefined || schema.maximum !== undefined) return `${schema.minimum ?? ""}…${schema.maximum ?? ""}`;
  return "";
}

/** A request a reader can paste: curl with the fields the operation needs. */
function example(api, path, method, operation) {
  const base = (api.servers && api.servers[0] && api.servers[0].url) || location.origin;
  const lines = [`curl -sS -X ${method.toUpperCase()} "${base}${path.replace(/\{(\w+)\}/g, (_, name) => `<${name}>`)}"`];
  if (operation.security && operation.security.some((entry) => Object.keys(entry).length)) {
    lines.push(`  -H "Authorization: Bearer $ASO_API_KEY"`);
  }
  const multipart = operation.requestBody && operation.requestBody.content && operation.requestBody.content["multipart/form-data"];
  if (multipart) {
    const schema = resolve(api, multipart.schema);
    for (const name of schema.required || []) {
      const field = schema.properties[name] || {};
      lines.push(field.format === "binary" ? `  -F "${name}=@photo.jpg"` : `  -F "${name}=${(field.enum && field.enum[0]) || `<${name}>`}"`);
    }
  }
  return lines.join(" \\\n");
}

function operationSection(api, path, method, operation) {
  const details = element("details", null, "op");
  details.id = operation.operationId || `${method}-${path}`;
  const summary = element("summary");
  summary.append(element("span", method.toUpperCase(), `method ${method}`), element("code", path), element("span", operation.summary || ""));
  details.append(summary);
  const body = element("div");
  if (operation.description) body.append(paragraphs(operation.description));

  const parameters = (operation.parameters || []).map((parameter) => resolve(api, parameter));
  if (parameters.length) {
    body.append(element("h3", "Parameters"));
    body.append(table(["name", "in", "type", "required", "description"], parameters.map((parameter) => [
      element("code", parameter.name), parameter.in, typeOf(api, parameter.schema), parameter.required ? "yes" : "no",
      [parameter.description || "", allowed(resolve(api, parameter.schema))].filter(Boolean).join(" — "),
    ])));
  }
  const content = operation.requestBody && operation.requestBody.content;
  if (content) {
    for (const [type, media] of Object.entries(content)) {
      const schema = resolve(api, media.schema);
      body.append(element("h3", `Request body (${type})`));
      const required = new Set(schema.required || []);
      body.append(table(["field", "type", "required", "description"], Object.entries(schema.properties || {}).map(([name, field]) => [
        element("code", name), typeOf(api, field), required.has(name) ? "yes" : "no",
        [field.description || "", field.default !== undefined ? `default ${field.default}` : ""].filter(Boolean).join(" — "),
      ])));
    }
  }
  body.append(element("h3", "Responses"));
  body.append(table(["status", "meaning", "body"], Object.entries(operation.responses || {}).map(([status, reference]) => {
    const response = resolve(api, reference);
    const media = response.content ? Object.entries(response.content)[0] : null;
    return [element("code", status), response.description || "", media ? `${media[0]} ${typeOf(api, media[1].schema)}` : "—"];
  })));
  body.append(element("h3", "Example"));
  body.append(element("pre", example(api, path, method, operation)));
  details.append(body);
  return details;
}

function schemaSection(api, name, schema) {
  const box = element("section");
  box.id = `schema-${name}`;
  box.append(element("h3", name));
  if (schema.description) box.append(paragraphs(schema.description));
  const required = new Set(schema.required || []);
  const properties = Object.entries(schema.properties || {});
  if (properties.length) {
    box.append(table(["field", "type", "description"], properties.map(([field, property]) => [
      element("code", field + (required.has(field) ? "" : "?")), typeOf(api, property),
      [property.description || "", allowed(property)].filter(Boolean).join(" — "),
    ])));
  }
  return box;
}

async function render() {
  let api;
  try {
    const response = await fetch("/v1/openapi.json", { headers: { Accept: "application/json" } });
    api = await response.json();
  } catch (error) {
    $("intro").replaceChildren(element("p", `The OpenAPI document could not be read: ${error.message}`, "error"));
    return;
  }
  const intro = $("intro");
  intro.replaceChildren(element("p", `${api.info.title} ${api.info.version}`), paragraphs(api.info.description));
  const toc = $("toc");
  const operations = $("operations");
  // Grouped by tag, in the document's tag order: renders first, then assets, the catalogue…
  const tags = (api.tags || []).map((tag) => tag.name);
  const all = [];
  for (const [path, methods] of Object.entries(api.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      if (!["get", "post", "put", "delete", "patch"].includes(method)) continue;
      all.push({ path, method, operation, tag: (operation.tags || ["other"])[0] });
    }
  }
  const rank = (tag) => (tags.includes(tag) ? tags.indexOf(tag) : tags.length);
  all.sort((a, b) => rank(a.tag) - rank(b.tag) || a.path.localeCompare(b.path) || b.method.localeCompare(a.method));
  let currentTag = null;
  const errors = new Map();
  for (const { path, method, operation, tag } of all) {
    if (tag !== currentTag) {
      currentTag = tag;
      const heading = element("h2", tag.charAt(0).toUpperCase() + tag.slice(1));
      heading.className = "group";
      operations.append(heading);
    }
    const section = operationSection(api, path, method, operation);
    operations.append(section);
    const item = element("li");
    const link = element("a", `${method.toUpperCase()} ${path}`);
    link.href = `#${section.id}`;
    link.addEventListener("click", () => { section.open = true; });
    item.append(link);
    toc.append(item);
    for (const [status, response] of Object.entries(operation.responses || {})) {
      if (Number(status) < 400) continue;
      if (!errors.has(status)) errors.set(status, []);
      errors.get(status).push(`${method.toUpperCase()} ${path}: ${resolve(api, response).description || ""}`);
    }
  }
  const errorBox = $("errors");
  errorBox.append(table(["status", "when"], [...errors.entries()].sort(([a], [b]) => Number(a) - Number(b)).map(([status, uses]) => {
    const list = element("ul");
    for (const use of uses) list.append(element("li", use));
    return [element("code", status), list];
  })));
  const schemas = $("schemas");
  for (const [name, schema] of Object.entries((api.components && api.components.schemas) || {})) {
    schemas.append(schemaSection(api, name, schema));
  }
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "DETAILS") target.open = true;
  }
}

render();
