// airtight KeyGen2: the keygen dialog. It holds the native-messaging port to the airtight host
// (`airtight browser-host`) for one session, shows what the issuer asks for, collects the
// user's answers and, at the end, sends the issuer's tab to the result, cancel or error page.
// Messages: spec/browser.md.
"use strict";

const HOST = "org.airtight.keygen2";
const params = new URLSearchParams(location.search);
const tabId = Number(params.get("tab"));
const invocation = params.get("inv") || "";
const pageTitle = params.get("title") || "";
const pageOrigin = params.get("page") || "";

const STEPS = [
  ["InvocationRequest", "The issuer states what it wants"],
  ["InvocationResponse", "Your answer and the key store's capabilities"],
  ["ProvisioningInitializationRequest", "The issuer asks for a session"],
  ["ProvisioningInitializationResponse", "The key store opens an attested session"],
  ["KeyCreationRequest", "The issuer asks for keys"],
  ["KeyCreationResponse", "The key store creates and attests the keys"],
  ["ProvisioningFinalizationRequest", "The issuer sends the certificates"],
  ["ProvisioningFinalizationResponse", "The key store closes the session"],
];

const $ = (id) => document.getElementById(id);
let port = null;
let finished = false;
let pinRequest = null;

function setState(s) {
  document.body.dataset.state = s;
}

function text(id, t) {
  $(id).textContent = t;
}

function renderSteps(seen) {
  const ol = $("steps");
  ol.textContent = "";
  let current = false;
  for (const [q, label] of STEPS) {
    const li = document.createElement("li");
    li.textContent = label;
    if (seen.has(q)) li.className = "done";
    else if (!current) {
      li.className = "current";
      current = true;
    }
    ol.appendChild(li);
  }
}
const seen = new Set();
renderSteps(seen);

function post(msg) {
  if (port) port.postMessage(msg);
}

function fail(message) {
  finished = true;
  text("failed-text", message);
  text("heading", "Enrolment failed");
  setState("failed");
}

function isWebUrl(u) {
  try {
    const p = new URL(u);
    return p.protocol === "http:" || p.protocol === "https:";
  } catch (e) {
    return false;
  }
}

// --- the rules of a user-defined PIN, checked before the card sees it (spec policies.md) ---
function pinBytes(format, t) {
  if (format === "binary") {
    if (!/^([0-9a-fA-F]{2})*$/.test(t)) return null;
    return t.length / 2;
  }
  return new TextEncoder().encode(t).length;
}

function pinProblem(r, pin) {
  const n = pinBytes(r.format, pin);
  if (n === null) return "Type the PIN as hexadecimal digits (two per byte).";
  if (n < r.minLength || n > r.maxLength) {
    return `The PIN must be ${r.minLength} to ${r.maxLength} ${r.format === "numeric" ? "digits" : "characters"} long.`;
  }
  if (r.format === "numeric" && !/^[0-9]*$/.test(pin)) return "The PIN may contain digits only.";
  if (r.format === "alphanumeric" && !/^[0-9A-Z]*$/.test(pin)) {
    return "The PIN may contain digits and capital letters only.";
  }
  const b = [...new TextEncoder().encode(pin)];
  for (const p of r.patterns || []) {
    if (p === "two-in-a-row" && b.some((x, i) => i > 0 && b[i - 1] === x)) {
      return "No character may appear twice in a row.";
    }
    if (p === "three-in-a-row" && b.some((x, i) => i > 1 && b[i - 1] === x && b[i - 2] === x)) {
      return "No character may appear three times in a row.";
    }
    if (p === "sequence" && b.length >= 2) {
      const up = b.every((x, i) => i === 0 || x === b[i - 1] + 1);
      const down = b.every((x, i) => i === 0 || x === b[i - 1] - 1);
      if (up || down) return "The PIN may not be a sequence such as 1234.";
    }
    if (p === "repeated" && new Set(b).size !== b.length) return "No character may be used twice.";
  }
  return null;
}

// --- the host's messages ---
function onMessage(m) {
  switch (m.type) {
    case "progress":
      seen.add(m.message);
      renderSteps(seen);
      if (document.body.dataset.state === "connecting") setState("working");
      break;
    case "consent": {
      text("issuer-origin", m.issuerOrigin);
      const what = m.action === "unlock" ? "unlock keys" : "create keys";
      text("consent-text", `${m.issuerOrigin} wants to ${what} in your key store.`);
      text(
        "privacy-text",
        m.privacy
          ? "Privacy mode: your key store's device certificate will not be sent."
          : "Your key store's device certificate (it identifies the device) will be sent to the issuer."
      );
      text("device", m.device);
      if (pageOrigin && pageOrigin !== m.issuerOrigin) {
        $("page-warning").hidden = false;
        text("page-warning", `The page (${pageOrigin}) invoked another origin: ${m.issuerOrigin}.`);
      }
      setState("consent");
      $("consent-accept").focus();
      break;
    }
    case "keys": {
      const list = $("keys-list");
      list.textContent = "";
      for (const k of m.keys) {
        const li = document.createElement("li");
        const pin = k.pinPolicy === null ? "no PIN" : k.presetPin ? "PIN set by the issuer" : "a PIN you choose";
        const name = k.friendlyName ? ` “${k.friendlyName}”` : "";
        li.textContent = `${k.id}${name}: ${k.algorithm} key for ${k.appUsage} use, ${pin}`;
        list.appendChild(li);
      }
      text(
        "keys-text",
        `${m.issuerOrigin} will create ${m.keys.length} key${m.keys.length === 1 ? "" : "s"} ` +
          `(${m.pinPolicies} PIN polic${m.pinPolicies === 1 ? "y" : "ies"}, ${m.pukPolicies} PUK polic${m.pukPolicies === 1 ? "y" : "ies"}):`
      );
      setState("keys");
      break;
    }
    case "pin": {
      pinRequest = m;
      text("pin-text", `Choose the PIN for ${m.keyIds.join(", ")}.`);
      const kind = m.format === "numeric" ? "digits" : m.format === "binary" ? "bytes, as hex" : "characters";
      let rules = `${m.minLength} to ${m.maxLength} ${kind}`;
      if (m.patterns && m.patterns.length) rules += `; not allowed: ${m.patterns.join(", ")}`;
      text("pin-rules", rules + (m.attempt > 1 ? ` (try ${m.attempt})` : ""));
      $("pin1").value = "";
      $("pin2").value = "";
      $("pin1").inputMode = m.format === "numeric" ? "numeric" : "text";
      $("pin2").inputMode = $("pin1").inputMode;
      setState("pin");
      $("pin1").focus();
      break;
    }
    case "pinRejected":
      text("pin-problem", `The PIN was not accepted: ${m.problem}.`);
      break;
    case "done":
      finished = true;
      text("done-text", m.message);
      setState("done");
      if (m.url && isWebUrl(m.url) && Number.isInteger(tabId)) {
        // An error stays on screen (the issuer's page cannot tell what the middleware saw).
        chrome.tabs.update(tabId, { url: m.url }, () => {
          if (m.outcome === "error") fail(m.message);
          else window.close();
        });
      } else {
        fail(m.message || "The session ended without a page to show.");
      }
      break;
    case "error":
      if (m.code === "unexpected") {
        console.warn("airtight host:", m.message);
      } else {
        fail(m.message);
      }
      break;
    default:
      console.warn("airtight: unknown message from the host", m.type);
  }
}

// --- the user's answers ---
function answered() {
  setState("working");
}
$("consent-accept").addEventListener("click", () => { post({ type: "consent", accept: true }); answered(); });
$("consent-cancel").addEventListener("click", () => { post({ type: "consent", accept: false }); answered(); });
$("keys-accept").addEventListener("click", () => { post({ type: "consent", accept: true }); answered(); });
$("keys-cancel").addEventListener("click", () => { post({ type: "consent", accept: false }); answered(); });
$("pin-cancel").addEventListener("click", () => { post({ type: "pin", cancel: true }); answered(); });
$("pin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const a = $("pin1").value;
  if (a !== $("pin2").value) {
    text("pin-problem", "The two PINs differ.");
    return;
  }
  const problem = pinRequest ? pinProblem(pinRequest, a) : null;
  if (problem) {
    text("pin-problem", problem);
    return;
  }
  text("pin-problem", "");
  post({ type: "pin", pin: a });
  $("pin1").value = "";
  $("pin2").value = "";
  answered();
});
$("close").addEventListener("click", () => window.close());

// --- start ---
text("issuer-name", pageTitle);
text("issuer-origin", pageOrigin);
try {
  port = chrome.runtime.connectNative(HOST);
  port.onMessage.addListener(onMessage);
  port.onDisconnect.addListener(() => {
    const why = chrome.runtime.lastError ? chrome.runtime.lastError.message : "the host stopped";
    port = null;
    if (!finished) fail(`The airtight middleware is not available: ${why}. Install it with \`airtight browser install\`.`);
  });
  port.postMessage({ type: "start", invocation: invocation });
} catch (e) {
  fail(`The airtight middleware could not be started: ${e.message}`);
}
