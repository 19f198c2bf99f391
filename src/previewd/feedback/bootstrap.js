(function (w) {
  // Inlined at the top of every HTML page the edge serves: catches errors from the
  // first script on, queues them for /__previewd/client.js (deferred) to send.
  if (w.__previewd) return;
  var P = (w.__previewd = { q: [], seen: {}, n: 0 });
  function text(x) {
    if (x instanceof Error) return x.name + ": " + x.message;
    if (typeof x === "object" && x !== null) {
      try { return JSON.stringify(x).slice(0, 500); } catch (e) { return String(x); }
    }
    return String(x);
  }
  function add(kind, message, source, line, column, stack) {
    message = String(message).slice(0, 1000);
    var key = kind + "\n" + message + "\n" + (source || "");
    if (P.seen[key] || P.n >= 50) return; // once per page load, at most 50
    P.seen[key] = 1;
    P.n++;
    P.q.push({
      kind: kind, message: message, source: source || null, line: line || null,
      column: column || null, stack: stack ? String(stack).slice(0, 2000) : null,
      page: location.pathname
    });
    if (P.flush) P.flush();
  }
  P.add = add;
  var original = console.error;
  console.error = function () {
    try {
      var args = [].slice.call(arguments), error = null, where = null;
      for (var i = 0; i < args.length; i++) if (args[i] instanceof Error) error = args[i];
      var frames = (new Error().stack || "").split("\n").slice(2);
      var m = frames.length && /\(?([^\s()]+):(\d+):(\d+)\)?\s*$/.exec(frames[0]);
      if (m) where = m;
      add("console", args.map(text).join(" "), where && where[1], where && +where[2],
          where && +where[3], error ? error.stack : frames.slice(0, 3).join("\n"));
    } catch (e) {}
    return original.apply(this, arguments);
  };
  w.addEventListener("error", function (e) {
    add("error", e.message || text(e.error), e.filename, e.lineno, e.colno,
        e.error && e.error.stack);
  });
  w.addEventListener("unhandledrejection", function (e) {
    var r = e.reason;
    add("rejection", text(r), null, null, null, r && r.stack);
  });
})(window);
