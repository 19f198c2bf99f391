/* previewd's page script: sends the errors the inline bootstrap caught to
   /__previewd/report (batched, at most 20 per request), and follows
   /__previewd/live to reload the tab when a new deployment goes live (stylesheets
   are swapped in place when only CSS files changed). */
(function () {
  var P = window.__previewd;
  if (!P || P.started) return;
  P.started = true;
  var timer = null;
  function send() {
    timer = null;
    var batch = P.q.splice(0, 20);
    if (!batch.length) return;
    try {
      fetch("/__previewd/report", {
        method: "POST", keepalive: true, credentials: "omit",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ reports: batch })
      }).catch(function () {});
    } catch (e) {}
    if (P.q.length) P.flush();
  }
  P.flush = function () { if (!timer) timer = setTimeout(send, 200); };
  P.flush();
  addEventListener("pagehide", function () {
    if (P.q.length && navigator.sendBeacon) {
      var body = JSON.stringify({ reports: P.q.splice(0, 20) });
      navigator.sendBeacon("/__previewd/report", new Blob([body], { type: "application/json" }));
    }
  });

  function swap(paths, deployment) {
    var links = document.querySelectorAll('link[rel~="stylesheet"]'), swapped = 0;
    for (var i = 0; i < links.length; i++) {
      var url = new URL(links[i].href, location.href);
      if (url.origin !== location.origin) continue;
      if (paths.indexOf(url.pathname.replace(/^\//, "")) < 0) continue;
      url.searchParams.set("previewd", deployment);
      links[i].href = url.href;
      swapped++;
    }
    return swapped > 0;
  }
  if (!window.EventSource) return;
  var live = new EventSource("/__previewd/live");
  live.addEventListener("hello", function (e) {
    var d = JSON.parse(e.data);
    if (P.deployment && d.deployment !== P.deployment) return location.reload(); // missed one
    P.deployment = d.deployment;
    P.connected = true;
  });
  live.addEventListener("deployment", function (e) {
    var d = JSON.parse(e.data);
    if (d.deployment === P.deployment) return;
    if (d.css && swap(d.css, d.deployment)) {
      P.deployment = d.deployment;
      P.swaps = (P.swaps || 0) + 1;
      return;
    }
    live.close();
    location.reload();
  });
})();
