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

// "Add Filter" adds a row below the others and Flask-Admin focuses its value's text box, which select2
// then hides: focus was left nowhere, and a keyboard had to start again from the top of the page. The
// keyboard goes on in the new row's value (Flask-Admin's handler, bound on the link, ran first).
document.addEventListener("click", function (event) {
  var row = closestTo(event, ".field-filters a.filter") && document.querySelector("table.filters tr:last-child");
  var value = row && (row.querySelector(".filter-val input.select2-focusser") || row.querySelector("input.filter-val"));
  if (value) {
    value.focus();
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

// Names for what Flask-Admin draws without one (the search box's clear cross) and what its scripts
// draw without one, so a screen reader can tell the controls
// apart: select2 pickers (named by their field's label, not by their placeholder; the "remove"
// cross of each chosen tag; their results as a named list box of options) and the filter rows (which
// filter's operation, which filter's value). Run on every change to the page: both draw late.
function labelText(id) {
  var label = id ? document.querySelector('label[for="' + id + '"]') : null;
  return label ? label.textContent.replace(/\*/g, "").trim() : "";
}

function nameOnce(element, name) {
  if (element && name && !element.getAttribute("aria-label")) {
    element.setAttribute("aria-label", name);
  }
}

// A picker's input is labelled by its placeholder (aria-labelledby), not by its field's name.
function nameInput(input, name) {
  if (name) {
    nameOnce(input, name);
    input.removeAttribute("aria-labelledby");
  }
}

function namePickers(root) {
  root.querySelectorAll(".select2-container[id^='s2id_']").forEach(function (container) {
    var name = labelText(container.id.slice(5));
    container.querySelectorAll("input.select2-focusser, input.select2-input").forEach(function (input) {
      nameInput(input, name);
    });
    container.querySelectorAll(".select2-search-choice").forEach(function (choice) {
      nameOnce(choice.querySelector(".select2-search-choice-close"), "Remove " + choice.textContent.trim());
    });
  });
  root.querySelectorAll(".select2-drop .select2-input").forEach(function (input) {
    nameOnce(input, "Search");
  });
  root.querySelectorAll("ul.select2-results").forEach(function (results) {
    results.setAttribute("role", "listbox");
    nameOnce(results, "Choices");
    // select2 marks each result's label as the option; its list item is only the wrapper.
    results.querySelectorAll("li.select2-result").forEach(function (item) {
      item.setAttribute("role", "presentation");
    });
  });
}

// A filter row: its remove button (reading "× Owner"), how to compare (a select2 of operations) and
// the value (a text box, a select2 of options or a picker).
function nameFilterRows(root) {
  root.querySelectorAll("table.filters tr").forEach(function (row) {
    var title = row.querySelector(".remove-filter");
    var name = title ? title.textContent.replace("\u00d7", "").trim() : "Filter";
    nameOnce(title, "Remove the " + name + " filter");
    row.querySelectorAll("select.filter-op, .filter-op input.select2-focusser").forEach(function (input) {
      nameInput(input, name + ": how to compare");
    });
    row.querySelectorAll("input.filter-val, select.filter-val, .filter-val input.select2-focusser")
      .forEach(function (input) { nameInput(input, name + ": value"); });
  });
}

function nameControls() {
  namePickers(document);
  nameFilterRows(document);
  document.querySelectorAll('form[role="search"] a[href]').forEach(function (link) {
    if (!link.textContent.trim()) {
      nameOnce(link, "Clear the search");
    }
  });
}

new MutationObserver(nameControls).observe(document.documentElement, { childList: true, subtree: true });
document.addEventListener("DOMContentLoaded", nameControls);

// The filter rows' search-as-you-type pickers (inputs/filters.py: PickerFilter). Flask-Admin's
// filter script draws their value as a text box of a type it does not know ("picker"); this gives the
// box its lookup address and the picked person's label (the address carries only the id), then has
// Flask-Admin's form script make it the select2 picker the forms use. The filters of the address are
// drawn before this script runs; one added later comes through the form script's field converter.
var filterPickers = (function () {
  var data = document.getElementById("filter-pickers-data");
  return data ? JSON.parse(data.textContent) : {};
})();

function drawFilterPicker(input) {
  var picker = filterPickers[(input.name || "").replace(/^flt\d+_/, "")];
  if (!picker || input.dataset.url) {
    return false;
  }
  var label = picker.chosen[input.value];
  input.dataset.url = picker.url;
  input.dataset.placeholder = picker.placeholder;
  input.dataset.json = JSON.stringify(label ? [input.value, label] : null);
  window.faForm.applyStyle(window.jQuery(input), "select2-ajax");
  return true;
}

// Flask-Admin also focuses each filter row it draws from the address: the keyboard of a filtered list
// started in the middle of the page, past the skip link, the menu and the messages. It starts at the
// top, as on every other page (focusing the body moves where the next Tab starts from).
function focusFromTheTop() {
  document.body.setAttribute("tabindex", "-1");
  document.body.focus({ preventScroll: true });
  document.body.removeAttribute("tabindex");
}

if (window.faForm) {
  window.faForm.addFieldConverter(function ($field, type) {
    return type === "picker" && drawFilterPicker($field[0]);
  });
  document.querySelectorAll("#filter_form input.filter-val").forEach(drawFilterPicker);
  if (document.activeElement && document.activeElement.closest("#filter_form")) {
    focusFromTheTop();
  }
}
