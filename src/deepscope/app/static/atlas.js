// Activation atlas viewer: tiled image pyramid on a canvas, smooth wheel zoom, drag pan,
// hover/click on a cell for its count, top classes and source crops. No dependencies.
(function () {
  "use strict";
  var dataNode = document.getElementById("atlas-data");
  var canvas = document.getElementById("atlas-canvas");
  if (!dataNode || !canvas) return;
  var atlas = JSON.parse(dataNode.textContent);
  var base = canvas.getAttribute("data-base") || "";
  var details = document.getElementById("cell-details");
  var ctx = canvas.getContext("2d");
  var tiles = atlas.tiles, W = tiles.width, H = tiles.height, grid = atlas.grid, cellPx = W / grid;
  var cells = {};
  atlas.cells.forEach(function (c, i) { cells[c.x + "," + c.y] = i; });
  var view = { x: 0, y: 0, scale: 1 };          // screen = (picture - view.xy) * scale
  var goal = { scale: 1, ax: 0, ay: 0 };         // zoom target, anchored at screen point (ax, ay)
  var fitScale = 1, dpr = 1, hover = null, pinned = null, cache = {}, pending = false, animating = false;

  function resize() {
    dpr = window.devicePixelRatio || 1;
    var r = canvas.getBoundingClientRect();
    canvas.width = Math.round(r.width * dpr);
    canvas.height = Math.round(r.height * dpr);
    fitScale = Math.min(r.width / W, r.height / H);
  }
  function reset() {
    var r = canvas.getBoundingClientRect();
    view.scale = goal.scale = fitScale;
    view.x = -(r.width / fitScale - W) / 2;
    view.y = -(r.height / fitScale - H) / 2;
    request();
  }
  function tile(level, c, r) {
    var key = level + "/" + c + "_" + r, img = cache[key];
    if (!img) {
      img = new Image();
      img.onload = request;
      img.src = base + "tiles/" + key + "." + tiles.format;
      cache[key] = img;
    }
    return img.complete && img.naturalWidth ? img : null;
  }
  function chooseLevel() {
    // the coarsest level that still has at least one pixel per device pixel
    var need = view.scale * dpr;
    for (var i = tiles.levels.length - 1; i >= 0; i--) if (tiles.levels[i].scale >= need) return i;
    return 0;
  }
  function drawLevel(index) {
    var l = tiles.levels[index], s = l.scale, size = tiles.tile / s;  // tile size in picture pixels
    var r = canvas.getBoundingClientRect();
    var c0 = Math.max(0, Math.floor(view.x / size)), r0 = Math.max(0, Math.floor(view.y / size));
    var c1 = Math.min(l.cols - 1, Math.floor((view.x + r.width / view.scale) / size));
    var r1 = Math.min(l.rows - 1, Math.floor((view.y + r.height / view.scale) / size));
    var drawn = 0;
    for (var row = r0; row <= r1; row++) {
      for (var col = c0; col <= c1; col++) {
        var img = tile(index, col, row);
        if (!img) continue;
        ctx.drawImage(img, (col * size - view.x) * view.scale, (row * size - view.y) * view.scale,
                      img.naturalWidth / s * view.scale, img.naturalHeight / s * view.scale);
        drawn++;
      }
    }
    return drawn;
  }
  function draw() {
    pending = false;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = view.scale < 2;
    var top = tiles.levels.length - 1, level = chooseLevel();
    var overview = drawLevel(top);       // always-loaded overview underneath
    var tilesDrawn = level === top ? overview : drawLevel(level);
    if (overview) canvas.setAttribute("data-ready", "1");
    [hover, pinned].forEach(function (cell, k) {
      if (cell === null) return;
      var c = atlas.cells[cell];
      ctx.strokeStyle = k ? "#2457c5" : "#e0532f";
      ctx.lineWidth = 2;
      ctx.strokeRect((c.x * cellPx - view.x) * view.scale, ((grid - 1 - c.y) * cellPx - view.y) * view.scale,
                     cellPx * view.scale, cellPx * view.scale);
    });
    canvas.setAttribute("data-zoom", (view.scale / fitScale).toFixed(3));
    canvas.setAttribute("data-level", String(level));
    canvas.setAttribute("data-tiles-drawn", String(tilesDrawn));
  }
  function request() { if (!pending) { pending = true; requestAnimationFrame(draw); } }

  function animate() {
    // smooth zoom: move a fraction of the way to the goal each frame, keeping the anchor fixed
    var px = goal.ax / view.scale + view.x, py = goal.ay / view.scale + view.y;
    var next = view.scale + (goal.scale - view.scale) * 0.3;
    if (Math.abs(goal.scale - next) / goal.scale < 0.002) next = goal.scale;
    view.scale = next;
    view.x = px - goal.ax / view.scale;
    view.y = py - goal.ay / view.scale;
    draw();
    if (next !== goal.scale) requestAnimationFrame(animate); else animating = false;
  }
  function zoomBy(factor, ax, ay) {
    goal.scale = Math.min(Math.max(goal.scale * factor, fitScale * 0.5), fitScale * 64);
    goal.ax = ax; goal.ay = ay;
    if (!animating) { animating = true; requestAnimationFrame(animate); }
  }
  function local(e) { var r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
  function cellAt(sx, sy) {
    var px = sx / view.scale + view.x, py = sy / view.scale + view.y;
    if (px < 0 || py < 0 || px >= W || py >= H) return null;
    var x = Math.floor(px / cellPx), y = grid - 1 - Math.floor(py / cellPx);
    var i = cells[x + "," + y];
    return i === undefined ? null : i;
  }
  function text(tag, content, cls) {
    var n = document.createElement(tag);
    n.textContent = content;
    if (cls) n.className = cls;
    return n;
  }
  function show(i) {
    if (!details) return;
    details.textContent = "";
    if (i === null) { details.appendChild(text("p", "Hover over a cell (click to keep it).", "muted")); return; }
    var c = atlas.cells[i];
    details.appendChild(text("h3", "Cell (" + c.x + ", " + c.y + ")"));
    var count = text("p", "");
    count.appendChild(text("strong", String(c.count), "cell-count"));
    count.appendChild(document.createTextNode(" activations averaged"));
    details.appendChild(count);
    if (c.top_classes.length) {
      details.appendChild(text("div", "Top classes (mean attribution):", "muted"));
      var ol = document.createElement("ol");
      ol.className = "cell-classes";
      c.top_classes.forEach(function (t) { ol.appendChild(text("li", t.class + " (" + t.attribution.toFixed(3) + ")")); });
      details.appendChild(ol);
    }
    if (c.sources.length) {
      details.appendChild(text("div", "Closest source patches:", "muted"));
      var box = document.createElement("div");
      box.className = "sources";
      c.sources.forEach(function (s) {
        var img = document.createElement("img");
        img.src = s.crop;
        img.alt = img.title = s.image;
        box.appendChild(img);
      });
      details.appendChild(box);
    }
  }

  var drag = null;
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    var p = local(e);
    zoomBy(Math.exp(-e.deltaY * 0.002), p[0], p[1]);
  }, { passive: false });
  canvas.addEventListener("mousedown", function (e) {
    var p = local(e);
    drag = { x: p[0], y: p[1], vx: view.x, vy: view.y, moved: false };
  });
  window.addEventListener("mouseup", function (e) {
    if (drag && !drag.moved && e.target === canvas) {
      var p = local(e), i = cellAt(p[0], p[1]);
      pinned = (i === pinned) ? null : i;
      if (pinned !== null) history.replaceState(null, "", "#cell=" + atlas.cells[pinned].x + "," + atlas.cells[pinned].y);
      show(pinned !== null ? pinned : hover);
      request();
    }
    drag = null;
    canvas.classList.remove("dragging");
  });
  canvas.addEventListener("mousemove", function (e) {
    var p = local(e);
    if (drag) {
      if (Math.abs(p[0] - drag.x) + Math.abs(p[1] - drag.y) > 3) { drag.moved = true; canvas.classList.add("dragging"); }
      view.x = drag.vx - (p[0] - drag.x) / view.scale;
      view.y = drag.vy - (p[1] - drag.y) / view.scale;
      request();
      return;
    }
    var i = cellAt(p[0], p[1]);
    if (i !== hover) { hover = i; if (pinned === null) show(hover); request(); }
  });
  canvas.addEventListener("mouseleave", function () { hover = null; if (pinned === null) show(null); request(); });
  function button(id, fn) { var b = document.getElementById(id); if (b) b.addEventListener("click", fn); }
  function centre() { var r = canvas.getBoundingClientRect(); return [r.width / 2, r.height / 2]; }
  button("atlas-zoom-in", function () { var c = centre(); zoomBy(2, c[0], c[1]); });
  button("atlas-zoom-out", function () { var c = centre(); zoomBy(0.5, c[0], c[1]); });
  button("atlas-reset", function () { reset(); });
  window.addEventListener("resize", function () { resize(); request(); });  // keeps the view

  // for scripts and tests: where a cell is on screen now, and the current view
  window.deepscopeAtlas = {
    cells: atlas.cells,
    cellScreenPosition: function (i) {
      var c = atlas.cells[i], r = canvas.getBoundingClientRect();
      return [r.left + ((c.x + 0.5) * cellPx - view.x) * view.scale,
              r.top + ((grid - 0.5 - c.y) * cellPx - view.y) * view.scale];
    },
    view: function () { return { x: view.x, y: view.y, scale: view.scale, zoom: view.scale / fitScale }; }
  };
  resize();
  reset();
  var m = /#cell=(\d+),(\d+)/.exec(location.hash);
  if (m && cells[m[1] + "," + m[2]] !== undefined) pinned = cells[m[1] + "," + m[2]];
  show(pinned);
})();
