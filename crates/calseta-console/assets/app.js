// Calseta console: progressive enhancement only. Every page and form works without this file.
// It never builds markup from strings (no innerHTML): it only sets text and attributes.
"use strict";

(function () {
  // Times: server-rendered in UTC; shown in the browser's zone, with UTC kept on hover.
  function localizeTimes(root) {
    root.querySelectorAll("time[data-local][datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) {
        return;
      }
      el.title = el.textContent.trim();
      el.textContent = when.toLocaleString(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"
      });
    });
  }

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
