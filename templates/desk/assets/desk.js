// newsroom_feed desk: small progressive enhancements; every page works without them.
// - [data-countdown="<ISO 8601 UTC>"]: shows the time left until that moment, updated every second.
// - form[data-preview] with a [data-preview-target] iframe: refreshes the preview a second after typing stops.
"use strict";
(function () {
  function left(ms, lang) {
    if (ms <= 0) return lang === "en" ? "now" : "teraz";
    var s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600),
        m = Math.floor((s % 3600) / 60), r = s % 60;
    var parts = [];
    if (d) parts.push(d + (lang === "en" ? " d" : " d"));
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
  function previews() {
    document.querySelectorAll("form[data-preview]").forEach(function (form) {
      var timer = null;
      var frame = document.querySelector(form.getAttribute("data-preview"));
      if (!frame) return;
      form.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () {
          var data = new FormData(form);
          fetch(frame.getAttribute("data-preview-url"), { method: "POST", body: data, credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.text() : null; })
            .then(function (html) { if (html !== null) frame.innerHTML = html; })
            .catch(function () {});
        }, 1000);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    if (document.querySelector("[data-countdown]")) setInterval(tick, 1000);
    previews();
  });
})();
