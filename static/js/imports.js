/* The import's forms (upload, apply, undo) with a progress bar. The form is sent with fetch,
 * asking for JSON: the server answers with the page to go to once the step has committed.
 * Meanwhile progress.json is polled and drawn. If the answer never comes (the connection or a
 * proxy gave up), polling goes on until the step is no longer running, then the batch's page is
 * shown: the step runs on the server whether or not this page waits for it. Without script the
 * forms post as usual and the browser waits for the next page. */
(function () {
  "use strict";

  var PLACEHOLDER = "00000000-0000-0000-0000-000000000000";
  var POLL_MS = 1000;
  var PHASES = { reading: "Reading the file", checking: "Checking the rows", writing: "Writing", undoing: "Putting the records back" };

  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function grouped(value) {
    return Number(value).toLocaleString("en-US");
  }

  function draw(form, status) {
    var bar = form.querySelector("#import-progress-bar");
    var label = form.querySelector("#import-progress-label");
    var text = form.querySelector("#import-progress-text");
    var verb = form.getAttribute("data-import-verb");
    if (!status.running) {
      return;
    }
    label.textContent = verb + ": " + (PHASES[status.phase] || status.phase);
    if (status.total) {
      var percent = Math.min(100, Math.floor((100 * status.done) / status.total));
      bar.value = percent;
      text.textContent = grouped(status.done) + " of " + grouped(status.total) + " rows (" + percent + " %)";
    } else {
      bar.removeAttribute("value");
      text.textContent = grouped(status.done) + " rows so far";
    }
  }

  function start(form, event) {
    if (!window.fetch || !window.FormData || !window.crypto) {
      return;
    }
    event.preventDefault();
    var idInput = form.querySelector("input[name=batch_id]");
    var id = idInput ? newId() : null;
    if (idInput) {
      idInput.value = id;
    }
    var statusUrl = form.getAttribute("data-import-progress").replace(PLACEHOLDER, id || PLACEHOLDER);
    var box = form.querySelector("#import-progress");
    var answered = false;
    var lost = false;
    box.hidden = false;
    form.querySelector("#import-progress-text").textContent = "Sending…";
    Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (button) {
      button.disabled = true;
    });

    function go(url) {
      answered = true;
      window.location.assign(url);
    }

    function poll() {
      window.setTimeout(function () {
        fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (status) {
            if (answered) {
              return; // the step's own answer is shown: a late poll must not draw over it
            }
            draw(form, status);
            if (lost && !status.running) {
              go(status.url || window.location.href);
            }
          })
          .catch(function () { /* the next poll tries again */ })
          .then(function () {
            if (!answered) {
              poll();
            }
          });
      }, POLL_MS);
    }

    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    })
      .then(function (response) {
        return response.json().then(
          function (data) { return { status: response.status, data: data }; },
          function () { return { status: response.status, data: {} }; }
        );
      })
      .then(function (answer) {
        if (answer.status >= 502 && answer.status <= 504) {
          throw new Error("the proxy gave up waiting");
        }
        if (answer.data.url) {
          go(answer.data.url);
          return;
        }
        answered = true;
        form.querySelector("#import-progress-label").textContent = "Not done";
        form.querySelector("#import-progress-text").textContent =
          answer.data.detail || "The server answered " + answer.status + " and nothing was changed.";
      })
      .catch(function () {
        lost = true;
        form.querySelector("#import-progress-text").textContent = "Waiting for the server…";
      });
    poll();
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-import-progress]"), function (form) {
    form.addEventListener("submit", function (event) { start(form, event); });
  });
})();
