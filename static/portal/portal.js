// The portal's one script: CSRF header for htmx, keyboard shortcuts, list-row navigation, copy buttons,
// confirmation dialogs and toasts. No framework; runs under a strict CSP (no inline code, no eval).
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = csrfToken();
  });

  // ---- Toasts: server messages arrive in #toasts (full pages) or via the HX-Trigger "toast" event. ----
  function showToast(text, level) {
    const region = document.getElementById("toasts");
    if (!region) return;
    const toast = document.createElement("div");
    toast.className = "toast-message toast-" + (level || "info");
    toast.setAttribute("role", level === "error" ? "alert" : "status");
    const span = document.createElement("span");
    span.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close btn-sm";
    close.setAttribute("aria-label", "Dismiss");
    close.setAttribute("data-dismiss-toast", "");
    toast.append(span, close);
    region.append(toast);
    autoDismiss(toast);
  }
  window.portalToast = showToast;

  function autoDismiss(toast) {
    if (toast.classList.contains("toast-error")) return; // errors stay until dismissed
    setTimeout(function () { toast.remove(); }, 8000);
  }

  document.body && document.querySelectorAll("#toasts .toast-message").forEach(autoDismiss);
  document.addEventListener("toast", function (event) {
    const detail = event.detail || {};
    showToast(detail.message || detail.value || "", detail.level);
  });

  document.addEventListener("click", function (event) {
    const dismiss = event.target.closest("[data-dismiss-toast]");
    if (dismiss) dismiss.closest(".toast-message").remove();

    const copy = event.target.closest("[data-copy]");
    if (copy) {
      navigator.clipboard.writeText(copy.getAttribute("data-copy")).then(function () {
        showToast("Copied " + copy.getAttribute("data-copy"), "success");
      });
    }

    // A secret is copied from its field and never repeated in a toast.
    const copyFrom = event.target.closest("[data-copy-from]");
    if (copyFrom) {
      const field = document.getElementById(copyFrom.getAttribute("data-copy-from"));
      if (field) {
        field.select();
        navigator.clipboard.writeText(field.value).then(function () { showToast("Copied", "success"); });
      }
    }

    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog) dialog.showModal();
    }
  });

  // ---- Destructive actions: forms with data-confirm ask first. ----
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);

  // ---- Keyboard: "/" or Ctrl/Cmd-K search, "?" help, "g x" navigation, arrows/j/k + Enter in lists. ----
  function typingInField(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }

  function listRows() {
    return Array.from(document.querySelectorAll("[data-row-list] [data-row-href]"));
  }

  function selectRow(rows, index) {
    rows.forEach(function (row) { row.removeAttribute("aria-selected"); });
    const row = rows[index];
    if (!row) return;
    row.setAttribute("aria-selected", "true");
    const link = row.querySelector("a");
    (link || row).focus();
  }

  // ---- Header search: on every page but the directory, the first matches drop down as the agent types (htmx
  // fills #search-matches, a listbox); arrows move through them, Enter opens the selected one or, with none
  // selected, submits the form (the full list in the directory), Escape closes them. Focus stays in the box. ----
  const searchForm = document.querySelector("[data-search-dropdown]");
  const searchBox = searchForm && searchForm.querySelector("input[name=q]");
  const matchList = searchForm && searchForm.querySelector("[role=listbox]");

  function matchOptions() { return Array.from(matchList.querySelectorAll("[role=option]")); }
  function selectedMatch() { return matchList.querySelector("[role=option][aria-selected=true]"); }

  function selectMatch(option) {
    matchOptions().forEach(function (each) { each.removeAttribute("aria-selected"); });
    if (option) {
      option.setAttribute("aria-selected", "true");
      searchBox.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      searchBox.removeAttribute("aria-activedescendant");
    }
  }

  function showMatches(open) {
    open = open && matchList.childElementCount > 0;
    matchList.hidden = !open;
    searchBox.setAttribute("aria-expanded", String(open));
    if (!open) selectMatch(null);
  }

  if (searchBox) {
    document.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target === matchList) {
        selectMatch(null);
        showMatches(document.activeElement === searchBox);
      }
    });
    searchBox.addEventListener("focus", function () { showMatches(true); });
    searchBox.addEventListener("input", function () { selectMatch(null); });
    searchForm.addEventListener("focusout", function (event) {
      if (!searchForm.contains(event.relatedTarget)) showMatches(false);
    });
    searchBox.addEventListener("keydown", function (event) {
      const options = matchOptions();
      const current = options.indexOf(selectedMatch());
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault(); // the page's own list keys do not see it either
        if (!options.length) return;
        showMatches(true);
        const step = event.key === "ArrowDown" ? 1 : -1;
        const next = current < 0 ? (step > 0 ? 0 : options.length - 1)
          : (current + step + options.length) % options.length;
        selectMatch(options[next]);
      } else if (event.key === "Enter" && current >= 0 && !matchList.hidden) {
        event.preventDefault();
        window.location.href = options[current].href;
      } else if (event.key === "Escape" && !matchList.hidden) {
        event.preventDefault();
        showMatches(false);
      }
    });
  }

  let pendingG = false;
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented) return; // handled by the header search
    const search = document.getElementById("global-search");
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      if (search) { event.preventDefault(); search.focus(); search.select(); }
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const rows = listRows();
    const current = rows.findIndex(function (row) { return row.getAttribute("aria-selected") === "true"; });
    if (typingInField(event.target)) {
      // From the search box, ArrowDown moves into the results.
      if (event.key === "ArrowDown" && rows.length && event.target.type === "search") {
        event.preventDefault();
        selectRow(rows, 0);
      }
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "/") { if (search) { event.preventDefault(); search.focus(); search.select(); } return; }
    if (event.key === "?") { const help = document.getElementById("shortcuts-dialog"); if (help) help.showModal(); return; }
    if (rows.length && (event.key === "ArrowDown" || event.key === "j")) {
      event.preventDefault(); selectRow(rows, Math.min(current + 1, rows.length - 1)); return;
    }
    if (rows.length && (event.key === "ArrowUp" || event.key === "k")) {
      event.preventDefault(); selectRow(rows, Math.max(current - 1, 0)); return;
    }
    if (event.key === "Enter" && current >= 0 && event.target === document.body) {
      window.location.href = rows[current].getAttribute("data-row-href"); return;
    }
    if (pendingG) {
      pendingG = false;
      const link = document.querySelector('[data-shortcut="g ' + event.key + '"]');
      if (link) { event.preventDefault(); link.click(); }
      return;
    }
    if (event.key === "g") { pendingG = true; setTimeout(function () { pendingG = false; }, 1200); }
  });

  // Clicking a row (outside its links and buttons) opens it.
  document.addEventListener("click", function (event) {
    const row = event.target.closest("[data-row-href]");
    if (row && !event.target.closest("a, button, input, label")) window.location.href = row.getAttribute("data-row-href");
  });

  // ---- Profile: forms answered with 422 re-render in place; dialogs open when htmx fills them. ----
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 422) { event.detail.shouldSwap = true; event.detail.isError = false; }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    const dialog = event.detail.target.closest && event.detail.target.closest("dialog");
    if (dialog && !dialog.open) dialog.showModal();
  });
  document.addEventListener("click", function (event) {
    const closer = event.target.closest("[data-close-dialog]");
    const dialog = closer && closer.closest("dialog");
    if (dialog) { event.preventDefault(); dialog.close(); }
  });

  // ---- Times in the agent's zone: the server sends <time datetime="UTC ISO" data-local[="date"|"day"|"weekday"|"seconds"]>. ----
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
  const secondsFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  // data-local="day": a calendar day with no time of day (a resume date): the same day everywhere, not moved.
  const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });
  // data-local="weekday": a day soon, with its weekday (a payment's next retry: "Thu 3 Dec").
  const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
  const formats = { date: dateFormat, day: dayFormat, seconds: secondsFormat, weekday: weekdayFormat };
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  function localizeTimes(root) {
    const times = Array.from(root.querySelectorAll("time[data-local]"));
    if (root.matches && root.matches("time[data-local]")) times.push(root);
    times.forEach(function (el) {
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.textContent = (formats[el.getAttribute("data-local")] || dateTimeFormat).format(when);
      el.title = el.getAttribute("datetime") + " (shown in " + zone + ")";
    });
  }
  localizeTimes(document);
  document.addEventListener("htmx:load", function (event) { localizeTimes(event.target); });
})();
