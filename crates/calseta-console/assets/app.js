// Calseta console: progressive enhancement only. Every page and form works without this file.
// It never builds markup from strings (no innerHTML): it only sets text and attributes.
"use strict";

(function () {
  // ---- Local times (the queue and every list; templates/macros.html `time`) ----------------
  // The server renders <time datetime="…" title="… UTC" data-local> with UTC as its text, which
  // is what shows without this file. Here the text becomes the browser's zone; the title keeps
  // the exact UTC time on hover. Marked done so that rows added later can be passed again.
  function localizeTimes(root) {
    root.querySelectorAll("time[data-local][datetime]:not([data-localized])").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) {
        return;
      }
      if (!el.title) {
        el.title = el.textContent.trim();
      }
      el.textContent = when.toLocaleString(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"
      });
      el.setAttribute("data-localized", "");
    });
  }
  // ---- end of local times ------------------------------------------------------------------

  // Keyboard: "g" then a letter goes to a section; "?" lists the shortcuts. Never while typing.
  var sections = { d: "/", a: "/alerts", p: "/approvals", l: "/activity" };
  var pendingG = false;
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    if (pendingG) {
      pendingG = false;
      var href = sections[event.key];
      if (href) {
        event.preventDefault();
        window.location.assign(href);
      }
      return;
    }
    if (event.key === "g") {
      pendingG = true;
      window.setTimeout(function () { pendingG = false; }, 1500);
    } else if (event.key === "?") {
      var dialog = document.getElementById("shortcuts");
      if (dialog && typeof dialog.showModal === "function" && !dialog.open) {
        event.preventDefault();
        dialog.showModal();
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localizeTimes(document);
    document.addEventListener("keydown", onKey);
  });
})();
