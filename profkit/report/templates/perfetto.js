/* profkit: hand a trace to ui.perfetto.dev with Perfetto's documented postMessage protocol
   (https://perfetto.dev/docs/visualization/deep-linking-to-perfetto-ui): PING until the UI
   answers PONG, then post {perfetto: {buffer, title, fileName}}. The trace goes from this
   page to the Perfetto tab or frame inside the browser; it is never uploaded.
   Shared by the report's "Open in Perfetto" buttons and `profkit open`. */
var profkitPerfetto = (function () {
  "use strict";
  var ORIGIN = "https://ui.perfetto.dev";

  function fetchTrace(url) {
    return fetch(url).then(function (resp) {
      if (!resp.ok) throw new Error("HTTP " + resp.status + " for " + url);
      return resp.arrayBuffer();
    });
  }

  function post(win, buffer, title, fileName) {
    var timer = setInterval(function () { win.postMessage("PING", ORIGIN); }, 50);
    function onMessage(evt) {
      if (evt.source !== win || evt.data !== "PONG") return;
      clearInterval(timer);
      window.removeEventListener("message", onMessage);
      win.postMessage({ perfetto: { buffer: buffer, title: title, fileName: fileName } }, ORIGIN);
    }
    window.addEventListener("message", onMessage);
  }

  return { ORIGIN: ORIGIN, fetchTrace: fetchTrace, post: post };
})();
