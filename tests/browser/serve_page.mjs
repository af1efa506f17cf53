// The camera page of `classic-cv serve` in headless Chromium with a fake camera fed from
// Megamind.avi (640x480, 30 fps y4m made with ffmpeg). Checks through the page's status
// element that frames are processed and faces boxed, that the boxes of a frame equal
// `classic-cv detect` on the same gray pixels, measures the processed frames per second
// over --seconds, and can save a screenshot.
//
//   node --experimental-websocket tests/browser/serve_page.mjs --bin target/release/classic-cv
//       [--seconds 20] [--min-fps 25] [--screenshot docs/serve-page.png]
// Needs `chromium` and `ffmpeg` (Debian packages) and the data cache (`classic-cv fetch-data`).
// Drives Chromium through its DevTools protocol (no npm packages). Prints
// "browser: N passed, M failed" and exits 1 on any failure.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const arg = (name, dflt) => {
  const k = process.argv.indexOf(`--${name}`);
  return k > 0 ? process.argv[k + 1] : dflt;
};
const bin = resolve(arg("bin", join(root, "target/release/classic-cv")));
const seconds = Number(arg("seconds", "20"));
const minFps = Number(arg("min-fps", "25"));
const shot = arg("screenshot", null);
const cache = process.env.CLASSIC_CV_DATA || join(root, "data/cache");
const cascade = join(cache, "opencv/haarcascades/haarcascade_frontalface_default.xml");
const video = join(cache, "opencv-doc/Megamind.avi");
const chromiumBin = arg("chromium", "/usr/bin/chromium");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let passed = 0, failed = 0;
function check(ok, what) {
  if (ok) passed++; else failed++;
  console.log(`${ok ? "ok" : "FAIL"}: ${what}`);
}

for (const [f, how] of [[bin, "cargo build --release"], [video, "classic-cv fetch-data"], [chromiumBin, "apt-get install chromium"]]) {
  if (!existsSync(f)) { console.error(`missing ${f}: ${how}`); process.exit(1); }
}

const tmp = mkdtempSync(join(tmpdir(), "classic-cv-browser-"));
const children = [];
function cleanup() {
  for (const c of children) { try { c.kill("SIGKILL"); } catch {} }
  try { rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }); } catch {}
}
process.on("exit", () => { for (const c of children) { try { c.kill("SIGKILL"); } catch {} } });

// Starts a child and resolves with the first stderr line matching `re`.
function startAndWait(cmd, args, re, what) {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${what} did not start`)), 60000);
    createInterface({ input: child.stderr }).on("line", (line) => {
      const m = line.match(re);
      if (m) { clearTimeout(timer); res(m); }
    });
    child.on("exit", (code) => rej(new Error(`${what} exited with ${code}`)));
  });
}

// A minimal DevTools protocol client.
function devtools(url) {
  const ws = new WebSocket(url);
  let next = 0;
  const waiting = new Map();
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.id && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  };
  const send = (method, params = {}) => new Promise((res, rej) => {
    const id = ++next;
    waiting.set(id, (m) => (m.error ? rej(new Error(`${method}: ${JSON.stringify(m.error)}`)) : res(m.result)));
    ws.send(JSON.stringify({ id, method, params }));
  });
  const evaluate = async (expression) => {
    const r = await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  return new Promise((res, rej) => {
    ws.onopen = () => res({ send, evaluate, close: () => ws.close() });
    ws.onerror = (e) => rej(new Error(`devtools socket: ${e.message || e}`));
  });
}

async function main() {
  const y4m = join(tmp, "megamind.y4m");
  execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-i", video, "-an",
    "-vf", "scale=640:480,fps=30", "-pix_fmt", "yuv420p", y4m]);
  const [, addr] = await startAndWait(bin, ["serve", "--addr", "127.0.0.1:0", "--cascade", cascade],
    /listening on http:\/\/([^/]+)\//, "classic-cv serve");
  const [, browserUrl] = await startAndWait(chromiumBin, [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    `--user-data-dir=${join(tmp, "profile")}`, "--remote-debugging-port=0", "--window-size=1000,820",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    `--use-file-for-fake-video-capture=${y4m}`, "--autoplay-policy=no-user-gesture-required",
    `http://${addr}/`,
  ], /DevTools listening on (ws:\/\/\S+)/, "chromium");
  const port = new URL(browserUrl).port;
  let target;
  for (let k = 0; k < 50 && !target; k++) {
    const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    target = list.find((t) => t.type === "page" && t.url.startsWith(`http://${addr}`));
    if (!target) await sleep(200);
  }
  const page = await devtools(target.webSocketDebuggerUrl);
  const status = async () => JSON.parse(await page.evaluate("document.getElementById('status')?.textContent || '{}'"));

  // Frames start flowing.
  let s = await status();
  for (let k = 0; k < 300 && !(s.frames > 10); k++) { await sleep(100); s = await status(); }
  check(s.frames > 10, `frames processed (${s.frames}, last error ${s.last_error})`);

  // Sustained rate over `seconds`, and how often a face was boxed. For /metrics, the page's
  // live answer counter (`state.frames`; the status element is refreshed only every 250 ms)
  // is read after the server's count at the start and before it at the end, so that the
  // server cannot have missed frames the page counted; only an answer in flight when
  // /metrics was first read (counted by the server, not yet received by the page) can
  // separate the two counts.
  const answered = async () => Number(await page.evaluate("state.frames"));
  const m0 = await (await fetch(`http://${addr}/metrics`)).json();
  const a0 = await answered();
  s = await status();
  const f0 = s.frames, t0 = Date.now();
  let polls = 0, boxed = 0;
  while (Date.now() - t0 < seconds * 1000) {
    await sleep(250);
    s = await status();
    polls++;
    if (s.last && s.last.boxes.length > 0) boxed++;
  }
  const secs = (Date.now() - t0) / 1000;
  const fps = (s.frames - f0) / secs;
  const a1 = await answered();
  const m1 = await (await fetch(`http://${addr}/metrics`)).json();
  console.log(`processed ${s.frames - f0} frames in ${secs.toFixed(1)} s: ${fps.toFixed(1)} fps at ` +
    `${s.last?.width}x${s.last?.height}; round trip ${s.rtt_ms} ms; server p50 ${m1.latency_ms.p50} ms, ` +
    `p99 ${m1.latency_ms.p99} ms; load average ${execFileSync("cat", ["/proc/loadavg"]).toString().trim()}`);
  const IN_FLIGHT = 1; // the page sends a frame only when the previous one was answered
  check(m1.frames - m0.frames >= a1 - a0 - IN_FLIGHT,
    `/metrics counts the page's frames (server ${m1.frames - m0.frames}, page ${a1 - a0})`);
  check(fps >= minFps, `>= ${minFps} processed frames per second (${fps.toFixed(1)})`);
  check(s.last && s.last.width === 640 && s.last.height === 480, "frames are 640x480");
  check(boxed > 0, `faces boxed (${boxed} of ${polls} polls showed a box)`);

  // The boxes of one frame equal `classic-cv detect` on the same gray pixels.
  let last = null;
  for (let k = 0; k < 200; k++) {
    last = await page.evaluate("window.classicCv.lastFrame()");
    if (last && last.boxes.length > 0) break;
    await sleep(50);
  }
  const gray = Buffer.from(last.gray_base64, "base64");
  const pgm = join(tmp, "frame.pgm");
  writeFileSync(pgm, Buffer.concat([Buffer.from(`P5\n${last.width} ${last.height}\n255\n`), gray]));
  const c = last.config;
  const cli = JSON.parse(execFileSync(bin, ["detect", "--cascade", join(dirname(cascade), c.cascade),
    "--scale-factor", String(c.scale_factor), "--min-neighbors", String(c.min_neighbors),
    "--min-size", String(c.min_size), pgm]).toString());
  check(JSON.stringify(cli.boxes) === JSON.stringify(last.boxes),
    `frame ${last.frame}: page boxes ${JSON.stringify(last.boxes)} = detect ${JSON.stringify(cli.boxes)}`);

  if (shot) {
    for (let k = 0; k < 100; k++) {
      s = await status();
      if (s.last && s.last.boxes.length > 0) break;
      await sleep(30);
    }
    const png = await page.send("Page.captureScreenshot", { format: "png" });
    writeFileSync(shot, Buffer.from(png.data, "base64"));
    console.log(`screenshot: ${shot}`);
  }
  page.close();
}

main().catch((e) => { failed++; console.log(`FAIL: ${e.stack || e}`); }).finally(() => {
  console.log(`browser: ${passed} passed, ${failed} failed`);
  for (const c of children) { try { c.kill("SIGKILL"); } catch {} }
  setTimeout(() => { cleanup(); process.exit(failed ? 1 : 0); }, 500);
});
