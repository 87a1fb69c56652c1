// Clinic Inbox: the little behaviour htmx does not cover. No inline handlers anywhere.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
      (el.tagName === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(el.type)) || el.isContentEditable);
  }

  // Composer: Enter sends, Shift+Enter makes a new line.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("textarea[data-composer]")) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (box.value.trim()) box.form.requestSubmit();
    }
  });

  // Saved replies: put the filled-in text into the message box.
  document.addEventListener("click", function (event) {
    var item = event.target.closest("[data-template-text]");
    if (!item) return;
    var box = $("#composer-body");
    if (!box) return;
    var text = item.getAttribute("data-template-text");
    box.value = box.value.trim() ? box.value.replace(/\s*$/, " ") + text : text;
    var menu = item.closest("details");
    if (menu) menu.open = false;
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // A button that must act once (Finish Setup): disabled right after it submits.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (button && button.hasAttribute("data-once")) {
      setTimeout(function () { button.disabled = true; button.textContent = "Working…"; }, 0);
    }
  });

  // Select all the loaded conversations.
  document.addEventListener("change", function (event) {
    if (event.target.id !== "select-all") return;
    $all(".conv-check").forEach(function (box) { box.checked = event.target.checked; });
  });

  // Dialogs (native <dialog>, no Bootstrap JS).
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog && !dialog.open) dialog.showModal();
      if (!opener.hasAttribute("hx-get")) event.preventDefault();
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var d = closer.closest("dialog");
      if (d) d.close();
    }
  });

  // Opening a thread: the stacked (tablet/phone) layout switches to the thread screen.
  document.addEventListener("htmx:afterSwap", function (event) {
    var grid = $("#inbox-grid");
    if (grid && event.detail.target && event.detail.target.id === "thread-pane") {
      grid.classList.add("has-thread");
      $all(".conv-row.selected").forEach(function (row) {
        if (row.getAttribute("data-conversation") !== String(currentConversation())) row.classList.remove("selected");
      });
    }
    scrollThread();
    syncTitle();
  });

  function currentConversation() {
    var thread = $(".thread[data-conversation]");
    return thread ? thread.getAttribute("data-conversation") : null;
  }

  function scrollThread() {
    var list = $("#messages");
    if (!list) return;
    var hit = $("mark", list);
    if (hit) hit.scrollIntoView({ block: "center" });
    else list.scrollTop = list.scrollHeight;
  }

  // "(3) Inbox": the unread count in the browser tab's title.
  var baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
  function syncTitle() {
    var badge = $("#inbox-badge");
    var n = badge ? parseInt(badge.getAttribute("data-count") || "0", 10) : 0;
    document.title = (n > 0 ? "(" + n + ") " : "") + baseTitle;
  }

  // Keyboard: j/k move, Enter opens, r replies, u toggles unread, / searches, ? helps.
  function rows() { return $all(".conv-row"); }
  function focusedIndex() {
    var list = rows();
    for (var i = 0; i < list.length; i++) if (list[i].classList.contains("kbd-focus")) return i;
    for (var j = 0; j < list.length; j++) if (list[j].classList.contains("selected")) return j;
    return -1;
  }
  function moveFocus(step) {
    var list = rows();
    if (!list.length) return;
    var i = Math.min(Math.max(focusedIndex() + step, 0), list.length - 1);
    list.forEach(function (row) { row.classList.remove("kbd-focus"); });
    list[i].classList.add("kbd-focus");
    list[i].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var active = document.activeElement;
    if (event.key === "Escape" && typing(active)) { active.blur(); return; }
    if (typing(active) || $("dialog[open]")) return;
    switch (event.key) {
      case "j": moveFocus(1); break;
      case "k": moveFocus(-1); break;
      case "Enter": {
        var row = $(".conv-row.kbd-focus");
        if (!row) return;
        $(".conv-link", row).click();
        break;
      }
      case "r": { var box = $("#composer-body"); if (box && !box.disabled) box.focus(); else return; break; }
      case "u": {
        var toggle = $("#toggle-unread");
        if (!toggle || !window.htmx) return;
        // Through htmx even if the thread was swapped in a moment ago.
        window.htmx.process(toggle.form);
        window.htmx.trigger(toggle.form, "submit");
        break;
      }
      case "/": { var search = $("#search-q"); if (search) search.focus(); else return; break; }
      case "?": { var help = $("#shortcuts-dialog"); if (help) help.showModal(); else return; break; }
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () { scrollThread(); syncTitle(); });
})();
