// The queue refreshes itself: every 30 seconds, while the page is visible, the table is
// asked for again and replaced when it changed; screen readers hear one short sentence.
// Without this script the page has a refresh link and is otherwise the same.
(function () {
  "use strict";
  var rows = document.getElementById("rows");
  var said = document.getElementById("refreshed");
  if (!rows || !window.fetch) { return; }
  var url = rows.getAttribute("data-refresh");
  function refresh() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (answer) {
        // Signed out meanwhile: the answer is the sign-in page, which is no table.
        return answer.ok && !answer.redirected ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null || html.trim() === rows.innerHTML.trim()) { return; }
        if (rows.contains(document.activeElement)) { return; }  // never move the reader's focus
        rows.innerHTML = html;
        if (said) {  // a changed text is heard again: the sentence alternates with a space
          var text = said.getAttribute("data-text");
          said.textContent = said.textContent === text ? text + "\u00a0" : text;
        }
      })
      .catch(function () { /* offline for a moment: the next round tries again */ });
  }
  window.setInterval(refresh, 30000);
}());
