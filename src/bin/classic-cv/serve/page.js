// classic-cv serve: camera -> gray frames over a WebSocket -> boxes drawn over the video.
// Frames go as binary messages: id, width, height (u32 little-endian), then the gray bytes.
// At most one frame is in flight: the next one is captured when the answer arrives.
"use strict";

const $ = (id) => document.getElementById(id);
const video = $("video"), overlay = $("overlay"), statusEl = $("status"), readout = $("readout");
const grab = document.createElement("canvas");
const grabCtx = grab.getContext("2d", { willReadFrequently: true });
const state = {
  frames: 0, errors: 0, lastError: null, inFlight: null, nextId: 1, answered: [],
  rtt: 0, serverMs: 0, last: null, config: null, socket: null,
};

// The gray weights of the library's decoder (OpenCV's cvtColor), rounded to 8 bits.
function grayFrame() {
  const vw = video.videoWidth, vh = video.videoHeight;
  if (!vw || !vh) return null;
  const w = Math.min(vw, Number($("send_width").value));
  const h = Math.max(1, Math.round(vh * w / vw));
  if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
  grabCtx.drawImage(video, 0, 0, w, h);
  const rgba = grabCtx.getImageData(0, 0, w, h).data;
  const gray = new Uint8Array(w * h);
  for (let i = 0, j = 0; i < gray.length; i++, j += 4) {
    gray[i] = Math.round(0.299 * rgba[j] + 0.587 * rgba[j + 1] + 0.114 * rgba[j + 2]);
  }
  return { w, h, gray };
}

function sendFrame() {
  const ws = state.socket;
  if (!ws || ws.readyState !== WebSocket.OPEN || state.inFlight) return;
  const f = grayFrame();
  if (!f) { setTimeout(sendFrame, 30); return; }
  const id = state.nextId++;
  const msg = new Uint8Array(12 + f.gray.length);
  const head = new DataView(msg.buffer);
  head.setUint32(0, id, true); head.setUint32(4, f.w, true); head.setUint32(8, f.h, true);
  msg.set(f.gray, 12);
  state.inFlight = { id, w: f.w, h: f.h, gray: f.gray, sent: performance.now() };
  ws.send(msg);
}

function drawBoxes(boxes, w, h) {
  const cw = video.videoWidth || w, ch = video.videoHeight || h;
  if (overlay.width !== cw || overlay.height !== ch) { overlay.width = cw; overlay.height = ch; }
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, cw, ch);
  ctx.lineWidth = Math.max(2, cw / 240);
  ctx.strokeStyle = "#3f3";
  const sx = cw / w, sy = ch / h;
  for (const [x, y, bw, bh] of boxes) ctx.strokeRect(x * sx, y * sy, bw * sx, bh * sy);
}

function showStatus() {
  const now = performance.now();
  state.answered = state.answered.filter((t) => now - t < 1000);
  const fps = state.answered.length;
  readout.textContent = `${fps} fps · round trip ${state.rtt.toFixed(1)} ms · server ${state.serverMs.toFixed(1)} ms`;
  statusEl.textContent = JSON.stringify({
    frames: state.frames, fps, rtt_ms: +state.rtt.toFixed(2), server_ms: state.serverMs,
    errors: state.errors, last_error: state.lastError, config: state.config,
    last: state.last && { frame: state.last.id, width: state.last.w, height: state.last.h, boxes: state.last.boxes },
  }, null, 1);
}

function onMessage(ev) {
  const m = JSON.parse(ev.data);
  if (m.config) { state.config = m.config; return; }
  if (m.error) { state.errors++; state.lastError = m.error; }
  const f = state.inFlight;
  if (f && (m.frame === f.id || m.error)) {
    state.inFlight = null;
    if (!m.error) {
      state.frames++;
      state.rtt = performance.now() - f.sent;
      state.serverMs = m.ms;
      state.answered.push(performance.now());
      state.last = { id: f.id, w: f.w, h: f.h, gray: f.gray, boxes: m.boxes };
      drawBoxes(m.boxes, m.width, m.height);
    }
    sendFrame();
  }
}

function sendConfig() {
  const ws = state.socket;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify({
    cascade: $("cascade").value || undefined,
    scale_factor: Number($("scale_factor").value),
    min_neighbors: Number($("min_neighbors").value),
    min_size: Number($("min_size").value),
  }));
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  state.socket = ws;
  ws.onopen = () => { sendConfig(); sendFrame(); };
  ws.onmessage = onMessage;
  ws.onclose = () => { state.inFlight = null; state.lastError = "connection closed; retrying"; setTimeout(connect, 1000); };
}

function snapshot() {
  const c = document.createElement("canvas");
  c.width = video.videoWidth; c.height = video.videoHeight;
  const ctx = c.getContext("2d");
  ctx.drawImage(video, 0, 0);
  ctx.drawImage(overlay, 0, 0, c.width, c.height);
  c.toBlob((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `faces-${Date.now()}.png`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }, "image/png");
}

// For tests and tools: the last answered frame (gray bytes base64-encoded) and its boxes.
window.classicCv = {
  lastFrame() {
    const l = state.last;
    if (!l) return null;
    let s = "";
    for (let i = 0; i < l.gray.length; i += 0x8000) s += String.fromCharCode.apply(null, l.gray.subarray(i, i + 0x8000));
    return { frame: l.id, width: l.w, height: l.h, boxes: l.boxes, config: state.config, gray_base64: btoa(s) };
  },
};

async function start() {
  const list = await (await fetch("/cascades")).json();
  const sel = $("cascade");
  for (const name of list.cascades) {
    const o = document.createElement("option");
    o.value = o.textContent = name;
    o.selected = name === list.default;
    sel.appendChild(o);
  }
  if (list.options) for (const k of ["scale_factor", "min_neighbors", "min_size"]) $(k).value = list.options[k];
  for (const id of ["cascade", "scale_factor", "min_neighbors", "min_size"]) $(id).addEventListener("change", sendConfig);
  $("snapshot").addEventListener("click", snapshot);
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    state.lastError = `camera: ${e.message}`;
    readout.textContent = state.lastError;
  }
  connect();
  setInterval(showStatus, 250);
}

start();
