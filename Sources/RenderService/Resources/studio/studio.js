// The studio: upload once, see every style, adjust one, choose the size, order, follow it.
import { APIError, apiKey, getImage, getJSON, postForm, setAPIKey, upload } from "./api.js";

const $ = (id) => document.getElementById(id);
const RENDERS = "aso-render-studio-renders";
const LOW_DPI = 150;

const state = {
  styles: [],
  presets: [],
  asset: null,
  photoURL: null,
  photo: null, // an Image of the uploaded file, for the crop drawing
  style: null,
  params: {},
  previewAbort: null,
};

// ---------- start: catalogue, or the key form when the API wants a key ----------

async function start() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setAPIKey($("api-key").value.trim());
    $("key-error").textContent = "";
    loadCatalogue();
  });
  wireUpload();
  wireDesign();
  const config = await getJSON("/studio/config.json");
  if (config.api_keys_required && !apiKey()) {
    askForKey("");
  } else {
    await loadCatalogue();
  }
  showRenders();
}

function askForKey(message) {
  $("key-panel").hidden = false;
  $("upload-panel").hidden = true;
  $("key-error").textContent = message;
  $("api-key").focus();
}

async function loadCatalogue() {
  try {
    [state.styles, state.presets] = await Promise.all([getJSON("/v1/styles"), getJSON("/v1/size-presets")]);
    $("key-panel").hidden = true;
    $("upload-panel").hidden = false;
    fillSizes();
    resumeRenders();
  } catch (error) {
    if (error instanceof APIError && error.status === 401) {
      setAPIKey("");
      askForKey(`That key was not accepted. ${error.message}`);
    } else {
      $("upload-error").textContent = `The service did not answer: ${error.message}`;
    }
  }
}

// ---------- 1. upload ----------

function wireUpload() {
  const drop = $("drop");
  $("photo").addEventListener("change", () => {
    const file = $("photo").files[0];
    if (file) send(file);
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) send(file);
  });
}

async function send(file) {
  $("upload-error").textContent = "";
  $("upload-status").hidden = false;
  $("upload-label").textContent = `Uploading ${file.name}…`;
  $("upload-progress").value = 0;
  const form = new FormData();
  form.append("file", file);
  try {
    state.asset = await upload("/v1/assets", form, (fraction) => {
      $("upload-progress").value = Math.round(fraction * 100);
      if (fraction >= 1) $("upload-label").textContent = "Checking the photo…";
    });
  } catch (error) {
    $("upload-status").hidden = true;
    $("upload-error").textContent = error.message;
    return;
  }
  $("upload-progress").value = 100;
  $("drop").classList.add("compact");
  $("drop-text").textContent = "Another photo? Drop it here, or";
  $("upload-label").textContent = `${file.name}: ${state.asset.width} × ${state.asset.height} px`;
  if (state.photoURL) URL.revokeObjectURL(state.photoURL);
  state.photoURL = URL.createObjectURL(file);
  state.photo = new Image();
  state.photo.addEventListener("load", drawCrop);
  // A format the browser cannot show (TIFF, HEIC) is drawn from the photo-style preview instead.
  state.photo.addEventListener("error", () => { state.photo = null; drawCrop(); });
  state.photo.src = state.photoURL;
  showStyles();
}

// ---------- 2. every style, as the previews arrive ----------

function previewPath(style, options = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(options)) if (value !== undefined && value !== "") query.set(name, value);
  const text = query.toString();
  return `/v1/assets/${state.asset.asset_id}/styles/${style.id}/preview.jpg${text ? `?${text}` : ""}`;
}

function showStyles() {
  const grid = $("style-grid");
  grid.replaceChildren();
  $("styles-panel").hidden = false;
  for (const style of state.styles) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "style-card loading";
    button.setAttribute("aria-pressed", "false");
    button.dataset.styleId = style.id;
    const image = document.createElement("img");
    image.alt = `Your photo as ${style.name}`;
    const name = document.createElement("span");
    name.className = "style-name";
    name.textContent = style.name;
    button.append(image, name);
    button.addEventListener("click", () => choose(style));
    item.append(button);
    grid.append(item);
    getImage(previewPath(style)).then((url) => {
      image.src = url;
      button.classList.remove("loading");
      button.classList.add("ready");
    }).catch((error) => {
      button.classList.remove("loading");
      button.classList.add("failed");
      name.textContent = `${style.name} — ${error.message}`;
    });
  }
}

// ---------- 3. adjust the chosen style, choose the size ----------

function choose(style) {
  state.style = style;
  state.params = {};
  for (const button of document.querySelectorAll(".style-card")) {
    button.setAttribute("aria-pressed", String(button.dataset.styleId === style.id));
  }
  $("design-panel").hidden = false;
  $("params-legend").textContent = `${style.name}: parameters`;
  buildSliders(style);
  refreshPreview();
  drawCrop();
  $("design-title").scrollIntoView({ behavior: "smooth", block: "start" });
}

function buildSliders(style) {
  const box = $("sliders");
  box.replaceChildren();
  $("params").hidden = style.parameters.length === 0;
  for (const parameter of style.parameters) {
    const id = `param-${parameter.name}`;
    const row = document.createElement("div");
    row.className = "slider";
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = humanise(parameter.name);
    const input = document.createElement("input");
    input.type = "range";
    input.id = id;
    input.name = parameter.name;
    input.min = parameter.minimum;
    input.max = parameter.maximum;
    input.step = niceStep(parameter.maximum - parameter.minimum);
    input.value = parameter.default;
    input.title = parameter.description;
    const output = document.createElement("output");
    output.htmlFor = id;
    output.textContent = format(parameter.default);
    const help = document.createElement("small");
    help.textContent = parameter.description;
    help.id = `${id}-help`;
    input.setAttribute("aria-describedby", help.id);
    input.addEventListener("input", () => { output.textContent = format(Number(input.value)); });
    input.addEventListener("change", () => {
      state.params[parameter.name] = Number(input.value);
      refreshPreview();
    });
    row.append(label, input, output, help);
    box.append(row);
  }
}

function wireDesign() {
  $("reset-params").addEventListener("click", () => {
    if (!state.style) return;
    state.params = {};
    buildSliders(state.style);
    refreshPreview();
  });
  for (const id of ["size", "orientation"]) {
    $(id).addEventListener("change", () => { refreshPreview(); drawCrop(); });
  }
  for (const radio of document.querySelectorAll("input[name=fit]")) {
    radio.addEventListener("change", () => { refreshPreview(); drawCrop(); });
  }
  $("order").addEventListener("click", order);
}

function fillSizes() {
  const select = $("size");
  select.replaceChildren();
  for (const preset of state.presets) {
    const option = document.createElement("option");
    option.value = preset.id;
    option.textContent = `${preset.name} (${preset.width_inches} × ${preset.height_inches} in)`;
    select.append(option);
  }
  const standard = state.presets.find((preset) => preset.name === "8x10") || state.presets[0];
  if (standard) select.value = standard.id;
}

function options() {
  return {
    size_preset_id: $("size").value,
    orientation: $("orientation").value,
    fit: document.querySelector("input[name=fit]:checked").value,
    style_params: Object.keys(state.params).length ? JSON.stringify(state.params) : "",
  };
}

async function refreshPreview() {
  if (!state.style) return;
  if (state.previewAbort) state.previewAbort.abort();
  const abort = new AbortController();
  state.previewAbort = abort;
  const image = $("big-preview");
  image.classList.add("stale");
  $("big-caption").textContent = `${state.style.name} — rendering…`;
  try {
    const url = await getImage(previewPath(state.style, options()), abort.signal);
    if (image.src.startsWith("blob:")) URL.revokeObjectURL(image.src);
    image.src = url;
    image.alt = `Preview of your photo as ${state.style.name} on the chosen print size`;
    $("big-caption").textContent = `${state.style.name} on ${selectedPreset().name}`;
  } catch (error) {
    if (error.name === "AbortError") return;
    $("big-caption").textContent = error.message;
  } finally {
    if (state.previewAbort === abort) image.classList.remove("stale");
  }
}

function selectedPreset() {
  return state.presets.find((preset) => preset.id === $("size").value);
}

/** The paper as printed and the photo on it, as PrintLayout computes them (cover or contain). */
function layout() {
  const preset = selectedPreset();
  const { width, height } = state.asset;
  const orientation = $("orientation").value;
  const landscape = orientation === "auto" ? width > height : orientation === "landscape";
  const paperW = landscape ? preset.height_inches : preset.width_inches;
  const paperH = landscape ? preset.width_inches : preset.height_inches;
  const fit = document.querySelector("input[name=fit]:checked").value;
  const sx = paperW / width, sy = paperH / height; // inches per photo pixel
  const scale = fit === "contain" ? Math.min(sx, sy) : Math.max(sx, sy);
  return { preset, paperW, paperH, fit, scale, effectiveDPI: 1 / scale };
}

function drawCrop() {
  if (!state.asset || !selectedPreset()) return;
  const { preset, paperW, paperH, fit, scale, effectiveDPI } = layout();
  const dpiText = `${Math.round(effectiveDPI)} DPI from your photo at ${preset.name}`;
  const low = effectiveDPI < (state.asset.low_resolution_below_dpi || LOW_DPI);
  $("dpi").textContent = low ? `⚠ ${dpiText}: below ${LOW_DPI} DPI the print will look soft. Choose a smaller size.` : `✓ ${dpiText}.`;
  $("dpi").classList.toggle("warning", low);

  const canvas = $("crop");
  const context = canvas.getContext("2d");
  const { width, height } = state.asset;
  const fitIn = Math.min(canvas.width / width, canvas.height / height);
  const w = width * fitIn, h = height * fitIn, x = (canvas.width - w) / 2, y = (canvas.height - h) / 2;
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (state.photo && state.photo.complete && state.photo.naturalWidth) {
    context.drawImage(state.photo, x, y, w, h);
  } else {
    context.fillStyle = "#d9d4cc";
    context.fillRect(x, y, w, h);
  }
  if (fit === "cover") {
    // The part of the photo that fills the paper, centred; the rest is cut away.
    const cropW = (paperW / scale) * fitIn, cropH = (paperH / scale) * fitIn;
    const cx = x + (w - cropW) / 2, cy = y + (h - cropH) / 2;
    context.fillStyle = "rgba(20, 18, 16, 0.6)";
    context.fillRect(x, y, w, cy - y);
    context.fillRect(x, cy + cropH, w, y + h - cy - cropH);
    context.fillRect(x, cy, cx - x, cropH);
    context.fillRect(cx + cropW, cy, x + w - cx - cropW, cropH);
    outline(context, cx, cy, cropW, cropH);
  } else {
    // The whole photo on the paper: the paper drawn around it.
    const paperPxW = (paperW / scale) * fitIn, paperPxH = (paperH / scale) * fitIn;
    outline(context, x + (w - paperPxW) / 2, y + (h - paperPxH) / 2, paperPxW, paperPxH);
  }
  canvas.setAttribute("aria-label",
    fit === "cover" ? `Your photo; the outlined part is printed on ${preset.name}, the darkened parts are cut off`
      : `Your whole photo on ${preset.name} paper, with white margins`);
}

function outline(context, x, y, w, h) {
  context.lineWidth = 2;
  context.strokeStyle = "#ffffff";
  context.strokeRect(x + 1, y + 1, w - 2, h - 2);
  context.setLineDash([6, 6]);
  context.strokeStyle = "#111111";
  context.strokeRect(x + 1, y + 1, w - 2, h - 2);
  context.setLineDash([]);
}

// ---------- 4. order, follow, download ----------

async function order() {
  if (!state.style || !state.asset) return;
  const button = $("order");
  button.disabled = true;
  const chosen = options();
  const form = new FormData();
  form.append("asset_id", state.asset.asset_id);
  form.append("style_id", state.style.id);
  for (const [name, value] of Object.entries(chosen)) if (value) form.append(name, value);
  try {
    const created = await postForm("/v1/renders", form);
    const entry = { id: created.render_id, style: state.style.name, size: selectedPreset().name, status: created.status };
    saveRender(entry);
    showRenders();
    follow(entry.id);
  } catch (error) {
    $("big-caption").textContent = `The order was not accepted: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

function savedRenders() {
  try { return JSON.parse(sessionStorage.getItem(RENDERS) || "[]"); } catch { return []; }
}

function saveRender(entry) {
  const all = savedRenders().filter((other) => other.id !== entry.id);
  all.unshift(entry);
  sessionStorage.setItem(RENDERS, JSON.stringify(all));
}

function updateRender(id, changes) {
  const all = savedRenders().map((entry) => (entry.id === id ? { ...entry, ...changes } : entry));
  sessionStorage.setItem(RENDERS, JSON.stringify(all));
  showRenders();
}

const TERMINAL = new Set(["completed", "failed", "canceled"]);

/** Long-polls the render (`Prefer: wait=25`): one request per status change, no polling storm. */
async function follow(id) {
  let status = "";
  while (!TERMINAL.has(status)) {
    try {
      const render = await getJSON(`/v1/renders/${id}`, { Prefer: "wait=25" });
      status = render.status;
      updateRender(id, { status, error: render.error_message || "", warnings: render.warnings || [] });
    } catch (error) {
      updateRender(id, { status: "unknown", error: error.message });
      return;
    }
  }
  if (status === "completed") {
    try {
      const [preview, download] = await Promise.all([getJSON(`/v1/renders/${id}/preview`), getJSON(`/v1/renders/${id}/download`)]);
      updateRender(id, { preview: preview.url, download: download.url });
    } catch (error) {
      updateRender(id, { error: error.message });
    }
  }
}

function resumeRenders() {
  for (const entry of savedRenders()) {
    if (!TERMINAL.has(entry.status)) follow(entry.id);
  }
  showRenders();
}

function showRenders() {
  const all = savedRenders();
  $("renders-panel").hidden = all.length === 0;
  const list = $("renders");
  list.replaceChildren();
  for (const entry of all) {
    const item = document.createElement("li");
    item.className = `render ${entry.status}`;
    item.dataset.renderId = entry.id;
    const title = document.createElement("p");
    title.className = "render-title";
    title.textContent = `${entry.style}, ${entry.size}`;
    const status = document.createElement("p");
    status.className = "render-status";
    status.textContent = statusText(entry);
    item.append(title, status);
    if (!TERMINAL.has(entry.status)) {
      const progress = document.createElement("progress");
      progress.setAttribute("aria-label", `Render ${entry.status}`);
      item.append(progress);
    }
    if (entry.preview) {
      const image = document.createElement("img");
      image.src = entry.preview;
      image.alt = `The finished ${entry.style} print, ${entry.size}`;
      image.className = "render-preview";
      item.append(image);
    }
    if (entry.download) {
      const link = document.createElement("a");
      link.href = entry.download;
      link.className = "button download";
      link.textContent = "Download the print (TIFF)";
      item.append(link);
    }
    list.append(item);
  }
}

function statusText(entry) {
  const words = {
    queued: "Waiting for a free press…", processing: "Rendering at print resolution…", completed: "Ready.",
    failed: "Failed", canceled: "Canceled", unknown: "Status unavailable",
  };
  let text = words[entry.status] || entry.status;
  if (entry.error) text += ` ${entry.error}`;
  if (entry.warnings && entry.warnings.length) text += ` (${entry.warnings.join("; ")})`;
  return text;
}

// ---------- small helpers ----------

function humanise(name) {
  const text = name.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function niceStep(range) {
  return range <= 2 ? 0.01 : range <= 20 ? 0.1 : 1;
}

function format(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

start();
