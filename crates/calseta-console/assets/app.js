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

// ---- Live updates (GET /events, Server-Sent Events) -------------------------------------------
// The queue (/alerts) and the approval inbox (/approvals) follow the console's event stream. New
// alerts are added at the top of the queue's first, unfiltered page; changed alerts have their
// severity, status and enrichment cells updated in place wherever they are shown; anything the
// page cannot show in place is announced with a "refresh" notice. Every value arrives as JSON and
// is set as text (textContent), never as markup. The browser resumes after a dropped connection
// with Last-Event-ID, so no event is missed. Without this script the pages are complete anyway.
(function () {
  var path = window.location.pathname;
  if ((path !== "/alerts" && path !== "/approvals") || typeof window.EventSource !== "function") {
    return;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  // One notice per page, counting what arrived that the page does not show.
  var pending = 0;
  var notice = null;
  function announce(what) {
    pending += 1;
    var main = document.getElementById("main");
    if (!main) {
      return;
    }
    if (!notice) {
      notice = el("p", "notice live-notice");
      notice.setAttribute("role", "status");
      var heading = main.querySelector("h1");
      main.insertBefore(notice, heading ? heading.nextSibling : main.firstChild);
    }
    notice.textContent = "";
    notice.appendChild(document.createTextNode(pending + " " + what + " since this page was loaded — "));
    var link = el("a", null, "refresh");
    link.href = window.location.pathname + window.location.search;
    notice.appendChild(link);
    notice.appendChild(document.createTextNode("."));
  }

  // The queue's first page in its default order (no filters, sorting or page in the URL): the
  // only view where a new alert belongs at the top.
  function queueTop() {
    return path === "/alerts" && window.location.search === "";
  }

  function severityBadge(severity) {
    return el("span", "badge sev-" + String(severity || "").toLowerCase(), severity);
  }

  function statusText(cell, alert) {
    cell.textContent = "";
    cell.appendChild(document.createTextNode(alert.status || ""));
    if (alert.close_classification) {
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(el("span", "small muted", "(" + alert.close_classification + ")"));
    }
  }

  function rowFor(uuid) {
    var rows = document.querySelectorAll("tr[data-alert-uuid]");
    for (var i = 0; i < rows.length; i += 1) {
      if (rows[i].getAttribute("data-alert-uuid") === uuid) {
        return rows[i];
      }
    }
    return null;
  }

  function update(row, alert) {
    var severity = row.querySelector("[data-field='severity']");
    if (severity && alert.severity) {
      severity.textContent = "";
      severity.appendChild(severityBadge(alert.severity));
    }
    var status = row.querySelector("[data-field='status']");
    if (status && alert.status) {
      statusText(status, alert);
    }
    var enrichment = row.querySelector("[data-field='enrichment']");
    if (enrichment && alert.enrichment_status) {
      enrichment.textContent = alert.enrichment_status;
    }
  }

  // A queue row like the server renders it (see templates/alerts.html).
  function newRow(alert, tbody) {
    var row = el("tr", "live-new");
    row.setAttribute("data-alert-uuid", alert.uuid);
    var sample = tbody.querySelector("tr");
    if (sample && sample.querySelector("input[type='checkbox'][form='bulk']")) {
      var cell = el("td");
      var box = el("input");
      box.type = "checkbox";
      box.name = "alert_uuid";
      box.value = alert.uuid;
      box.setAttribute("form", "bulk");
      box.id = "sel-" + alert.uuid;
      box.setAttribute("aria-label", "Select alert: " + (alert.title || ""));
      cell.appendChild(box);
      row.appendChild(cell);
    }
    var title = el("td");
    var link = el("a", null, alert.title);
    link.href = "/alerts/" + encodeURIComponent(alert.uuid);
    title.appendChild(link);
    row.appendChild(title);
    var severity = el("td");
    severity.setAttribute("data-field", "severity");
    severity.appendChild(severityBadge(alert.severity));
    row.appendChild(severity);
    // A new alert has no verdict until its indicators are enriched; a reload shows the verdict.
    var malice = el("td");
    malice.setAttribute("data-field", "malice");
    malice.appendChild(el("span", "badge malice-pending", "Pending"));
    row.appendChild(malice);
    var status = el("td");
    status.setAttribute("data-field", "status");
    statusText(status, alert);
    row.appendChild(status);
    row.appendChild(el("td", null, alert.source));
    var enrichment = el("td", null, alert.enrichment_status);
    enrichment.setAttribute("data-field", "enrichment");
    row.appendChild(enrichment);
    var occurred = el("td");
    if (alert.occurred_at) {
      var time = el("time", null, alert.occurred_at);
      time.setAttribute("datetime", alert.occurred_at);
      var when = new Date(alert.occurred_at);
      if (!isNaN(when.getTime())) {
        time.title = alert.occurred_at;
        time.textContent = when.toLocaleString(undefined, {
          year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"
        });
      }
      occurred.appendChild(time);
    }
    row.appendChild(occurred);
    return row;
  }

  // An event's JSON, or null when it cannot be read.
  function parse(message) {
    try {
      return JSON.parse(message.data);
    } catch (e) {
      return null;
    }
  }

  function onAlert(message) {
    var data = parse(message);
    var alert = data && data.alert;
    if (!alert || !alert.uuid || path !== "/alerts") {
      return;
    }
    var row = rowFor(alert.uuid);
    if (row) {
      update(row, alert);
      return;
    }
    if (!data["new"]) {
      return;
    }
    var tbody = document.querySelector("tr[data-alert-uuid]");
    tbody = tbody ? tbody.parentNode : null;
    if (queueTop() && tbody) {
      tbody.insertBefore(newRow(alert, tbody), tbody.firstChild);
    } else {
      announce("new alert(s)");
    }
  }

  // Whether reloading now would lose nothing the analyst is doing (a focused field, a typed note).
  function idle() {
    var active = document.activeElement;
    if (active && active.closest && active.closest("form")) {
      return false;
    }
    var notes = document.querySelectorAll("textarea");
    for (var i = 0; i < notes.length; i++) {
      if (notes[i].value) {
        return false;
      }
    }
    return true;
  }

  function onApproval(event) {
    if (path !== "/approvals") {
      return;
    }
    var data = parse(event);
    var approval = data && data.approval;
    var card = approval && approval.uuid
      ? document.querySelector('#pending [data-approval-uuid="' + CSS.escape(approval.uuid) + '"]')
      : null;
    if (card && approval.status && approval.status !== "pending") {
      // Decided or expired elsewhere: the card says so and its buttons go, in place.
      card.classList.add("approval-settled");
      var left = card.querySelector(".approval-left");
      if (left) {
        left.textContent = approval.status;
      }
      var buttons = card.querySelectorAll("form button");
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].disabled = true;
      }
      return;
    }
    if (idle()) {
      window.location.reload();
    } else {
      announce("approval request(s) changed");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    // Start where the page was read, so nothing between rendering and connecting is lost.
    var page = document.getElementById("main");
    var since = page && page.getAttribute("data-events-since");
    var source = new window.EventSource(since ? "/events?since=" + encodeURIComponent(since) : "/events");
    source.addEventListener("alert", onAlert);
    source.addEventListener("approval", onApproval);
  });
})();
// ---- End of live updates ----------------------------------------------------------------------

// ---- Copy buttons ----------------------------------------------------------------------------
// A secret shown once (a new API key, an agent's signing secret) sits in a read-only field with a
// `<button data-copy="<field id>">` beside it, hidden until this script runs (without it the
// field can still be selected and copied by hand). A click copies the field's value and says so.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button[data-copy]");
    Array.prototype.forEach.call(buttons, function (button) {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        var done = function (text) {
          button.textContent = text;
        };
        field.select();
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(field.value).then(
            function () { done("Copied"); },
            function () { done("Press Ctrl+C to copy"); }
          );
        } else {
          done("Press Ctrl+C to copy");
        }
      });
    });
  });
})();
// ---- End of copy buttons ---------------------------------------------------------------------

// ---- Context documents: live targeting preview ------------------------------------------------
// The editor's "Preview" button shows the form again with the preview (without this file). Here
// the preview follows the conditions as they change: the targeting fields (and only those, not
// the document's text) are posted, with the session's CSRF token, to /context-documents/preview
// a moment after the last change, and the answer is built into the page with createElement and
// textContent (alert titles were written by whoever sent the alert).
(function () {
  "use strict";
  var DEBOUNCE_MS = 300;

  function clearAfter(node) {
    while (node.nextSibling) {
      node.parentNode.removeChild(node.nextSibling);
    }
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function showPreview(section, data) {
    var heading = section.querySelector("h3");
    clearAfter(heading);
    var summary = el("p");
    summary.id = "preview-summary";
    var count = el("strong", String(data.matched));
    count.id = "preview-count";
    count.setAttribute("data-matched", String(data.matched));
    var considered = el("span", String(data.considered));
    considered.id = "preview-considered";
    summary.appendChild(count);
    summary.appendChild(document.createTextNode(" of the last "));
    summary.appendChild(considered);
    summary.appendChild(document.createTextNode(" alerts (at most " + data.window + ") would get this document."));
    section.appendChild(summary);
    if (!data.examples || data.examples.length === 0) {
      return;
    }
    var list = el("ol", null, "preview-examples");
    list.id = "preview-examples";
    data.examples.forEach(function (example) {
      var item = el("li");
      var link = el("a", example.title);
      link.setAttribute("href", "/alerts/" + encodeURIComponent(example.uuid));
      item.appendChild(link);
      item.appendChild(document.createTextNode(" "));
      var facts = example.severity + " · " + example.source_name;
      if (example.detection_rule) {
        facts += " · rule " + example.detection_rule;
      }
      item.appendChild(el("span", facts, "small muted"));
      item.appendChild(el("br"));
      item.appendChild(el("span", "Matched by " + example.clauses, "small preview-clause"));
      list.appendChild(item);
    });
    section.appendChild(list);
  }

  function showRefusal(section, errors) {
    var heading = section.querySelector("h3");
    clearAfter(heading);
    var summary = el("p", "The preview is shown once the conditions can be read:", "muted");
    summary.id = "preview-summary";
    section.appendChild(summary);
    var list = el("ul", null, "error-list");
    (errors || []).forEach(function (error) {
      list.appendChild(el("li", error.message, "field-error"));
    });
    section.appendChild(list);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("document-form");
    var targeting = document.getElementById("targeting");
    var section = document.getElementById("targeting-preview");
    if (!form || !targeting || !section || !section.hasAttribute("data-live-preview")) {
      return;
    }
    var timer = null;
    var sent = 0;
    function refresh() {
      var body = new URLSearchParams();
      var data = new FormData(form);
      data.forEach(function (value, name) {
        if (name === "csrf_token" || name === "scope" || name.indexOf("cond_") === 0) {
          body.append(name, value);
        }
      });
      var mine = ++sent;
      section.setAttribute("aria-busy", "true");
      fetch("/context-documents/preview", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (response) {
          return response.json().then(function (json) {
            return { ok: response.ok, json: json };
          });
        })
        .then(function (answer) {
          if (mine !== sent) {
            return; // an older answer than the last request: the next one is coming
          }
          section.removeAttribute("aria-busy");
          if (answer.ok) {
            showPreview(section, answer.json);
            var rules = document.getElementById("targeting-json");
            if (rules) {
              rules.textContent = JSON.stringify(answer.json.targeting_rules, null, 2);
            }
          } else {
            showRefusal(section, answer.json.errors);
          }
        })
        .catch(function () {
          section.removeAttribute("aria-busy");
        });
    }
    function changed() {
      // Stale from the first keystroke, not only once its request is sent.
      section.setAttribute("aria-busy", "true");
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, DEBOUNCE_MS);
    }
    targeting.addEventListener("input", changed);
    targeting.addEventListener("change", changed);
  });
})();
// ---- End of context documents ------------------------------------------------------------------
