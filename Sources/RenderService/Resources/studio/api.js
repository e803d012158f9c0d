// The API as the studio and the reference page call it: same origin, the API key (when the
// service asks for one) from sessionStorage only, errors in the service's {error, message, status}.

const KEY = "aso-render-api-key";

export function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setAPIKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

function headers(extra = {}) {
  const all = { Accept: "application/json", ...extra };
  const key = apiKey();
  if (key) all.Authorization = `Bearer ${key}`;
  return all;
}

/** An error the API answered, with its status and the service's sentence. */
export class APIError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error + (body.message ? `: ${body.message}` : "") : `HTTP ${status}`);
    this.status = status;
  }
}

async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  return new APIError(response.status, body);
}

export async function getJSON(path, extraHeaders = {}, signal = undefined) {
  const response = await fetch(path, { headers: headers(extraHeaders), signal });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function postForm(path, form) {
  const response = await fetch(path, { method: "POST", headers: headers(), body: form });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** An image the API serves (previews): fetched with the key, shown from a blob: URL. */
export async function getImage(path, signal) {
  const response = await fetch(path, { headers: headers({ Accept: "image/jpeg" }), signal });
  if (!response.ok) throw await failure(response);
  return URL.createObjectURL(await response.blob());
}

/** Upload with progress (fetch cannot report upload progress): resolves to the JSON answer. */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    for (const [name, value] of Object.entries(headers())) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(request.responseText); } catch { /* not JSON */ }
      if (request.status >= 200 && request.status < 300) resolve(body);
      else reject(new APIError(request.status, body));
    });
    request.addEventListener("error", () => reject(new APIError(0, { error: "The upload failed", message: "network error" })));
    request.send(form);
  });
}
