// newsroom_feed desk: small progressive enhancements; every page works without them.
// - [data-countdown="<ISO 8601 UTC>"]: shows the time left until that moment, updated every second.
"use strict";
(function () {
  function left(ms, lang) {
    if (ms <= 0) return lang === "en" ? "now" : "teraz";
    var s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600),
        m = Math.floor((s % 3600) / 60), r = s % 60;
    var parts = [];
    if (d) parts.push(d + " d");
    if (h || d) parts.push(h + " h");
    parts.push(m + " min");
    if (!d) parts.push(r + " s");
    return parts.join(" ");
  }
  function tick() {
    var lang = document.documentElement.lang;
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-countdown"));
      if (!isNaN(at)) el.textContent = left(at - Date.now(), lang);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    if (document.querySelector("[data-countdown]")) setInterval(tick, 1000);
  });
})();
