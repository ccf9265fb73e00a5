// pgexp report: every <div class="dt" id="X"> with its JSON in <script id="X-data"> becomes a Grid.js table
// (sort, search, pages, sticky header).  Cells are [text, sort key]; the key sorts, the text is shown.
(function () {
  "use strict";
  function compare(a, b) {
    var x = a[1], y = b[1];
    if (x === null && y === null) return String(a[0]).localeCompare(String(b[0]));
    if (x === null) return 1;
    if (y === null) return -1;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  function build(el) {
    var src = document.getElementById(el.id + "-data");
    if (!src || typeof gridjs === "undefined") return;
    var spec = JSON.parse(src.textContent);
    var columns = spec.columns.map(function (c) {
      return {
        name: c.label,
        sort: { compare: compare },
        formatter: function (cell) { return cell[0]; },
        attributes: function (cell) { return cell === null ? { title: c.title } : {}; }
      };
    });
    var many = spec.rows.length > spec.pageSize;
    new gridjs.Grid({
      columns: columns,
      data: spec.rows,
      sort: true,
      search: many ? { selector: function (cell) { return cell[0]; } } : false,
      pagination: many ? { limit: spec.pageSize } : false,
      fixedHeader: true,
      height: spec.rows.length > 12 ? "420px" : undefined,  // scrolls inside, header sticks
      autoWidth: false,  // the browser lays the columns out within the box (no clipped columns)
      className: { table: "pg-table" }
    }).render(el);
  }
  // A figure opens at its full resolution over the page: the same image (its data URI string), not a copy.
  var box = null;
  function closeBox() {
    if (!box) return;
    box.classList.remove("open");
    document.body.classList.remove("lightbox-open");
  }
  function openBox(fig) {
    var img = fig.querySelector("img");
    if (!img) return;
    if (!box) {
      box = document.createElement("div");
      box.id = "lightbox";
      box.setAttribute("role", "dialog");
      box.innerHTML = '<div class="bar"><span class="name"></span><span>full size · Esc or click to close ' +
        '<button type="button" class="close" aria-label="close">×</button></span></div><img alt="">';
      box.addEventListener("click", closeBox);
      document.body.appendChild(box);
    }
    var big = box.querySelector("img");
    big.src = img.src;
    big.alt = img.alt;
    box.querySelector(".name").textContent = img.alt;
    box.classList.add("open");
    document.body.classList.add("lightbox-open");
    box.scrollTop = 0;
  }
  function zoomable() {
    var figs = document.querySelectorAll("figure.zoomable");
    for (var i = 0; i < figs.length; i++) {
      (function (fig) {
        var img = fig.querySelector("img"), btn = fig.querySelector("button.zoom");
        if (img) img.addEventListener("click", function () { openBox(fig); });
        if (btn) btn.addEventListener("click", function () { openBox(fig); });
      })(figs[i]);
    }
    document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeBox(); });
  }
  function init() {
    var els = document.querySelectorAll("div.dt");
    for (var i = 0; i < els.length; i++) build(els[i]);
    document.body.setAttribute("data-tables-ready", String(els.length));
    zoomable();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
