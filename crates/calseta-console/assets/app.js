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

  // ---- Keyboard shortcuts ---------------------------------------------------------------------
  // j/k move the selection through the queue's rows (the row is marked and its title link takes
  // the focus, so the focus ring shows it and Enter follows the link); Enter opens the selected
  // alert; x toggles its bulk-selection checkbox; "g" then a letter goes to a section; "?" opens
  // the list of shortcuts (the <dialog> in base.html; Esc closes it). Never while typing, and
  // never with Ctrl, Alt or Meta held (those belong to the browser).
  var sections = { d: "/", a: "/alerts", p: "/approvals", l: "/activity" };
  var pendingG = false;
  var selectedRow = -1;

  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    if (target.isContentEditable || /^(TEXTAREA|SELECT)$/.test(target.tagName)) {
      return true;
    }
    // Checkboxes and buttons take no text: the shortcuts stay live on them.
    return target.tagName === "INPUT" && !/^(checkbox|radio|button|submit|reset)$/.test(target.type);
  }

  function queueRows() {
    var table = document.querySelector("table[data-queue]");
    return table && table.tBodies.length ? Array.prototype.slice.call(table.tBodies[0].rows) : [];
  }

  function selectRow(rows, index) {
    rows.forEach(function (row, i) {
      row.classList.toggle("is-selected", i === index);
    });
    selectedRow = index;
    var link = rows[index].querySelector("a[href]");
    if (link) {
      link.focus();
    }
  }

  function moveSelection(step) {
    var rows = queueRows();
    if (!rows.length) {
      return false;
    }
    var index = selectedRow < 0 || selectedRow >= rows.length
      ? (step > 0 ? 0 : rows.length - 1)
      : Math.min(rows.length - 1, Math.max(0, selectedRow + step));
    selectRow(rows, index);
    return true;
  }

  function selectedQueueRow() {
    var rows = queueRows();
    return selectedRow >= 0 && selectedRow < rows.length ? rows[selectedRow] : null;
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    var dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) {
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
    var row;
    switch (event.key) {
      case "g":
        pendingG = true;
        window.setTimeout(function () { pendingG = false; }, 1500);
        break;
      case "j":
      case "k":
        if (moveSelection(event.key === "j" ? 1 : -1)) {
          event.preventDefault();
        }
        break;
      case "Enter":
        row = selectedQueueRow();
        // On a link or a button Enter already does its own thing.
        if (row && !/^(A|BUTTON)$/.test(event.target.tagName)) {
          var link = row.querySelector("a[href]");
          if (link) {
            event.preventDefault();
            window.location.assign(link.href);
          }
        }
        break;
      case "x":
        row = selectedQueueRow();
        var box = row && row.querySelector("input[type=checkbox]");
        if (box) {
          event.preventDefault();
          box.checked = !box.checked;
          box.dispatchEvent(new Event("change", { bubbles: true }));
        }
        break;
      case "?":
        if (dialog && typeof dialog.showModal === "function") {
          event.preventDefault();
          dialog.showModal();
        }
        break;
      default:
        break;
    }
  }
  // ---- End of keyboard shortcuts ----------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    localizeTimes(document);
    document.addEventListener("keydown", onKey);
  });
})();
