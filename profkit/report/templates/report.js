/* profkit report: draw the figures, sort tables, hand traces to Perfetto. */
(function () {
  "use strict";
  var figures = JSON.parse(document.getElementById("profkit-figures").textContent);

  function draw() {
    Object.keys(figures).forEach(function (key) {
      var el = document.getElementById("fig-" + key);
      if (!el) return;
      var fig = figures[key];
      // No mode bar: it covers the top legend; drag still zooms, double-click resets.
      var config = Object.assign({ displayModeBar: false, responsive: true }, fig.config || {});
      Plotly.newPlot(el, fig.data, fig.layout, config)
        .then(function () { el.setAttribute("data-rendered", "1"); });
    });
  }

  function cellValue(row, i, numeric) {
    var cell = row.cells[i];
    var v = cell.getAttribute("data-v");
    if (v === null) v = cell.textContent;
    return numeric ? parseFloat(v) : v.toLowerCase();
  }

  function makeSortable(table) {
    var heads = table.tHead.querySelectorAll("th[data-col]");
    Array.prototype.forEach.call(heads, function (th) {
      var i = parseInt(th.getAttribute("data-col"), 10);
      th.addEventListener("click", function () {
        var numeric = th.getAttribute("data-type") === "num";
        var desc = !th.classList.contains("desc");
        Array.prototype.forEach.call(heads, function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(desc ? "desc" : "asc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, i, numeric), y = cellValue(b, i, numeric);
          var c = x < y ? -1 : x > y ? 1 : 0;
          return desc ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  var PERFETTO = profkitPerfetto.ORIGIN;

  function explain(help, html) {
    help.hidden = false;
    help.innerHTML = html;
  }

  function openInPerfetto(button) {
    var help = button.nextElementSibling;
    var url = button.getAttribute("data-url");
    if (location.protocol === "file:") {
      explain(help, "A page opened from a file cannot hand a trace to Perfetto. Run " +
        "<code>profkit serve</code> (it serves the reports folder on 127.0.0.1) and open this report from the " +
        "URL it prints; or open <a href=\"" + PERFETTO + "\" target=\"_blank\" rel=\"noopener\">ui.perfetto.dev</a> " +
        "and drop this file into it: ");
      var path = document.createElement("code");
      path.textContent = decodeURIComponent(url);
      help.appendChild(path);
      return;
    }
    // Open the tab inside the click handler, or popup blockers stop it.
    var win = window.open(PERFETTO + "/#!/?referrer=profkit");
    if (!win) { explain(help, "The browser blocked the new tab: allow pop-ups for this page and retry."); return; }
    profkitPerfetto.fetchTrace(url).then(function (buffer) {
      profkitPerfetto.post(win, buffer, button.getAttribute("data-title"), url.split("/").pop());
    }).catch(function (err) {
      help.hidden = false;
      help.textContent = "Could not load the trace: " + err.message;
    });
  }

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll("button.perfetto").forEach(function (b) {
    b.addEventListener("click", function () { openInPerfetto(b); });
  });
  draw();
})();
