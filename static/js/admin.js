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

// A refused save: the banner links to each field to fix (data-invalid-field; the server autofocuses
// the first). Select2 hides a picker's real input, so bring the field's form group into view and
// focus its first control, which is what the operator types into.
document.addEventListener("click", function (event) {
  var link = event.target.closest ? event.target.closest("a[data-invalid-field]") : null;
  var field = link ? document.getElementById(decodeURIComponent(link.hash.slice(1))) : null;
  var group = field ? field.closest(".form-group") : null;
  if (!group) {
    return;
  }
  event.preventDefault();
  group.scrollIntoView({ block: "center" });
  (group.querySelector('input:not([type="hidden"]), textarea, select') || field).focus({ preventScroll: true });
});
