// airtight KeyGen2: finds a KeyGen2 invocation on an issuer page (spec/browser.md) and hands it
// to the extension. The contract: a link whose href is a keygen2: URL, or any element with a
// data-keygen2 attribute holding one; both carry the five parameters of the Android intent
// (cookie, url, init, cncl, ver). Clicking one opens the keygen dialog instead of leaving the page.
"use strict";

(function () {
  const MAX_URL = 8192;

  function invocationOf(el) {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const declared = e.getAttribute("data-keygen2");
      if (declared) return declared;
      if (e.tagName === "A") {
        const href = e.getAttribute("href") || "";
        if (href.toLowerCase().startsWith("keygen2:")) return href;
      }
    }
    return null;
  }

  document.addEventListener(
    "click",
    (ev) => {
      const invocation = invocationOf(ev.target);
      if (!invocation) return;
      ev.preventDefault();
      ev.stopPropagation();
      // Only a click of the user opens the dialog (a page's script cannot pop it up).
      if (!ev.isTrusted) return;
      if (invocation.length > MAX_URL || !invocation.toLowerCase().startsWith("keygen2:")) {
        console.warn("airtight: ignored an invocation that is not a keygen2: URL");
        return;
      }
      chrome.runtime.sendMessage({
        type: "invoke",
        invocation: invocation,
        pageTitle: document.title.slice(0, 200),
        pageOrigin: location.origin,
      });
    },
    true
  );

  // Tell the page the extension is here (the landing page then offers the extension form).
  function mark() {
    document.documentElement.setAttribute("data-keygen2-extension", "1");
  }
  if (document.documentElement) mark();
  document.addEventListener("DOMContentLoaded", mark);
})();
