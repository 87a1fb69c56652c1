// Clinic Inbox: the little behaviour htmx does not cover. No inline handlers anywhere.
(function () {
  "use strict";

  // Composer: Enter sends, Shift+Enter makes a new line.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("textarea[data-composer]")) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (box.value.trim()) box.form.requestSubmit();
    }
  });

  // Keep the newest message in view when a thread opens or changes.
  function scrollThread() {
    var list = document.getElementById("messages");
    if (list) list.scrollTop = list.scrollHeight;
  }
  document.addEventListener("DOMContentLoaded", scrollThread);
  document.addEventListener("htmx:afterSwap", scrollThread);
})();
