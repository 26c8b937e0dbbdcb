/* Small behaviours of our own pages (kept out of inline scripts, so a strict CSP can forbid those). */
document.addEventListener("change", function (event) {
  var toggle = event.target;
  if (!toggle.matches || !toggle.matches("input.select-all")) {
    return;
  }
  var boxes = toggle.form.querySelectorAll('input[type="checkbox"][name="' + toggle.dataset.target + '"]');
  boxes.forEach(function (box) { box.checked = toggle.checked; });
});

// Buttons that change data ask first (the list's row delete): data-confirm holds the question.
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("[data-confirm]") : null;
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
