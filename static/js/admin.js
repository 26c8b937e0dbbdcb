/* Small behaviours of our own pages (kept out of inline scripts, so a strict CSP can forbid those). */
document.addEventListener("change", function (event) {
  var toggle = event.target;
  if (!toggle.matches || !toggle.matches("input.select-all")) {
    return;
  }
  var boxes = toggle.form.querySelectorAll('input[type="checkbox"][name="' + toggle.dataset.target + '"]');
  boxes.forEach(function (box) { box.checked = toggle.checked; });
});
