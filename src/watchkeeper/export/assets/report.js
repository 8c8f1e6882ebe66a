(function () {
  "use strict";
  // Expand or collapse every step of the process tree.
  document.querySelectorAll("[data-steps]").forEach(function (button) {
    button.addEventListener("click", function () {
      var open = button.getAttribute("data-steps") === "open";
      document.querySelectorAll("details.step").forEach(function (d) { d.open = open; });
    });
  });
  // Show only alerts of the ticked severities.
  var boxes = document.querySelectorAll("input[data-sev]");
  function apply() {
    var shown = {};
    boxes.forEach(function (b) { shown[b.getAttribute("data-sev")] = b.checked; });
    document.querySelectorAll("article.alert").forEach(function (a) {
      a.style.display = shown[a.getAttribute("data-severity")] === false ? "none" : "";
    });
  }
  boxes.forEach(function (b) { b.addEventListener("change", apply); });
})();
