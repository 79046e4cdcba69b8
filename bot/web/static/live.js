// The projector page: follows the session's event stream, and gives a facilitator's link its
// two keys (N: next question, A: mark answered). No framework, nothing from another site.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var poll = document.getElementById("poll");
  var questions = document.getElementById("questions");
  var status = document.getElementById("status");
  var offline = document.getElementById("offline");
  var expired = document.getElementById("expired");

  function say(text) {
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
  }

  function apply(data) {
    if (poll.dataset.key !== data.poll_key) {
      poll.innerHTML = data.poll_html;
      poll.dataset.key = data.poll_key;
      if (data.announce) { say(data.announce); }
    } else if (data.poll) {
      data.poll.shares.forEach(function (share, i) {
        var option = poll.querySelector('[data-option="' + i + '"]');
        if (!option) { return; }
        option.querySelector(".fill").style.width = share + "%";
        option.querySelector(".count").textContent = data.poll.counts[i];
      });
      var voters = poll.querySelector(".voters");
      if (voters) { voters.textContent = data.poll.voters; }
    }
    if (questions.dataset.key !== data.qa_key) {
      questions.innerHTML = data.qa_html;
      questions.dataset.key = data.qa_key;
    }
  }

  var stream = new EventSource(main.dataset.events);
  stream.addEventListener("state", function (event) {
    offline.hidden = true;
    main.dataset.live = "true";
    apply(JSON.parse(event.data));
  });
  stream.addEventListener("expired", function () {
    stream.close();
    expired.hidden = false;
  });
  stream.onerror = function () {
    // The browser retries by itself; it gives up only when the server refused the stream,
    // which it does only for a link that no longer works.
    if (stream.readyState === EventSource.CLOSED) { offline.hidden = true; expired.hidden = false; }
    else { offline.hidden = false; }
  };

  if (main.dataset.role !== "facilitator") { return; }

  function act(action) {
    var body = new URLSearchParams();
    body.set("action", action);
    fetch(main.dataset.actionUrl, { method: "POST", body: body, credentials: "omit" })
      .then(function (response) { return response.json(); })
      .then(function (result) { say(result.message || result.error || ""); })
      .catch(function () { say(offline.textContent); });
  }

  document.querySelectorAll("button[data-action]").forEach(function (button) {
    button.addEventListener("click", function () { act(button.dataset.action); });
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var tag = (event.target && event.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
    var key = event.key.toLowerCase();
    if (key === "n") { act("next"); event.preventDefault(); }
    else if (key === "a") { act("answered"); event.preventDefault(); }
  });
})();
