// Gatehouse console and portal: progressive enhancement only. Every page
// reads and every form works without this file; it adds copy buttons,
// confirmations and the dashboard charts (uPlot). No inline script is
// allowed by the Content-Security-Policy, so chart data comes from
// data-charts attributes.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Copy buttons: <button data-copy="input-id">.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-copy]");
    if (!b) return;
    ev.preventDefault();
    var input = document.getElementById(b.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // Confirmations: <form data-confirm="Revoke this key?">.
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    var msg = f.getAttribute && f.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });

  var palette = ["#2456c9", "#b42318", "#1d7a46", "#9a6700", "#7a3fb0", "#0f7c8c", "#c2410c"];

  // drawCharts draws every chart whose data block has not been drawn yet:
  // the page's own, then those an htmx fragment brings (the trends).
  function drawCharts() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll(".chart-data:not([data-drawn])").forEach(function (el) {
      el.setAttribute("data-drawn", "1");
      JSON.parse(el.getAttribute("data-charts")).forEach(drawChart);
    });
  }

  function drawChart(c) {
    var box = document.getElementById("chart-" + c.id);
    if (!box) return;
    box.textContent = "";
    var data = [c.x];
    var series = [{}];
    c.series.forEach(function (s, i) {
      data.push(s.values);
      series.push({ label: s.label, stroke: palette[i % palette.length], width: 1.6,
        fill: i === 0 && c.series.length <= 2 ? "rgba(36,86,201,0.08)" : undefined });
    });
    if (c.series.length === 0) {
      box.textContent = "Nothing to chart in this window.";
      box.className += " muted";
      return;
    }
    var opts = {
      width: Math.max(300, box.clientWidth - 4), height: 220, series: series,
      scales: { x: { time: true }, y: c.max ? { range: [0, c.max] } : { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      axes: [{}, { label: c.unit, size: 50 }],
      legend: { live: true }
    };
    var plot = new uPlot(opts, data, box);
    window.addEventListener("resize", function () { plot.setSize({ width: Math.max(300, box.clientWidth - 4), height: 220 }); });
  }

  document.addEventListener("htmx:afterSettle", drawCharts);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawCharts);
  } else {
    drawCharts();
  }
})();
