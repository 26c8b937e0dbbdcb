/* Small behaviours of our pages and of Flask-Admin's, attached from data attributes: the Content
   Security Policy runs no inline script, onclick= handler or javascript: link. */

// The element an event happened in, or inside, that matches selector (null when none does).
function closestTo(event, selector) {
  return event.target.closest ? event.target.closest(selector) : null;
}

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
  var button = closestTo(event, "[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});

// Links that only carry behaviour (menus, "Add Filter", a filter's remove button) have href="#"
// to be focusable; they never navigate, not even to the top of the page. Caught on the way down:
// Flask-Admin's multi-level dropdown script stops menu toggles' clicks from bubbling up.
document.addEventListener("click", function (event) {
  if (closestTo(event, 'a[href="#"]')) {
    event.preventDefault();
  }
}, true);

// A bulk action of the "With selected" menu (data-model-action: its name). Flask-Admin's
// actions.js (modelActions) checks that rows are selected, asks the action's confirmation and
// submits the action form.
document.addEventListener("click", function (event) {
  var item = closestTo(event, "[data-model-action]");
  if (item) {
    window.modelActions.execute(item.dataset.modelAction);
  }
});

// A refused save: the banner links to each field to fix (data-invalid-field; the server autofocuses
// the first). Select2 hides a picker's real input, so bring the field's form group into view and
// focus its first control, which is what the operator types into.
document.addEventListener("click", function (event) {
  var link = closestTo(event, "a[data-invalid-field]");
  var field = link ? document.getElementById(decodeURIComponent(link.hash.slice(1))) : null;
  var group = field ? field.closest(".form-group") : null;
  if (!group) {
    return;
  }
  event.preventDefault();
  group.scrollIntoView({ block: "center" });
  (group.querySelector('input:not([type="hidden"]), textarea, select') || field).focus({ preventScroll: true });
});
