// airtight KeyGen2: opens the keygen dialog for an invocation found by content.js. The dialog
// page itself holds the native-messaging port (a service worker may be stopped when idle; the
// dialog lives as long as the session).
"use strict";

chrome.runtime.onMessage.addListener((msg, sender) => {
  if (!msg || msg.type !== "invoke" || !sender.tab || typeof msg.invocation !== "string") {
    return;
  }
  const q = new URLSearchParams({
    tab: String(sender.tab.id),
    inv: msg.invocation,
    title: String(msg.pageTitle || ""),
    page: String(msg.pageOrigin || ""),
  });
  chrome.windows.create({
    url: chrome.runtime.getURL("dialog.html") + "?" + q.toString(),
    type: "popup",
    width: 520,
    height: 620,
  });
});
