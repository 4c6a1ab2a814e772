/* siting map: draws the page spec held in <script id="siting-data" type="application/json">.
 *
 * Every text that comes from data (names from OSM or user files, KPI labels, table
 * cells) reaches the page through textContent or escapeHtml(), never as raw HTML.
 * The page's Content-Security-Policy allows only this inline script (by hash), so an
 * injected <script> or on* attribute would not run even if escaping failed.
 *
 * Clicks: every vector layer shares one canvas, whose hit test (SitingCanvas) gives a
 * click to the decidable layers (stations, parks, pipes) before any other, then to the
 * layer drawn last; heat maps never take pointer events; candidate layers (spec
 * readOnly) open read-only popups that say so.
 *
 * Layout: with a table under the map, the map is sized before it is fitted to the
 * region; fitPanels() keeps the panels of each side of the map from overlapping by
 * shrinking the scrollable ones (KPIs, legend) to the space between them.
 *
 * Test hooks: window.siting = {map, layers, counts, ready, openItem, setDecision,
 * decisionsGeoJSON, downloadDecisions, fitPanels, regionInView}; document.body.dataset
 * .sitingReady = "1" once every visible layer is built and clustered and the panels
 * are laid out; window.siting.paintedMs after the first paint.
 */
(function () {
  'use strict';

  var startMs = performance.now();
  var spec = JSON.parse(document.getElementById('siting-data').textContent);
  var parsedMs = performance.now();
  var STORE = 'siting:decisions:' + spec.planId;
  var KEY_STORE = 'siting:tianditu-key';
  // the page's own text in its language (spec.text, from siting/i18n.py `ui.*`); English
  // is written here and used where the spec has none
  var TEXT = spec.text || {};
  function msg(key, en) { return TEXT[key] || en; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  // a number without float noise, as siting.maps.page.format_number: |v| < 1e-9 is 0,
  // integers and |v| >= 1000 get separators, others `digits` significant digits
  function num(v, digits) {
    if (!isFinite(v)) { return '–'; }
    var a = Math.abs(v);
    if (a < 1e-9) { return '0'; }
    if (Number.isInteger(v) || a >= Math.pow(10, digits - 1) || a >= 1000) {
      return Math.round(v).toLocaleString('en-US');
    }
    var decimals = Math.min(9, digits - 1 - Math.floor(Math.log10(a)));
    var s = v.toLocaleString('en-US', {minimumFractionDigits: decimals,
                                       maximumFractionDigits: decimals});
    s = s.indexOf('.') >= 0 ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
    return s === '-0' ? '0' : s;
  }
  function fmt(v, unit) {
    if (v === null || v === undefined || v === '') { return '–'; }
    if (typeof v === 'number') {
      var s = num(v, Math.abs(v) < 1 ? 3 : 4);
      return unit ? s + ' ' + unit : s;
    }
    if (typeof v === 'boolean') { return v ? msg('yes', 'yes') : msg('no', 'no'); }
    return unit ? String(v) + ' ' + unit : String(v);
  }
  function lerp(stops, t) {  // stops: list of [r, g, b]; t in [0, 1]
    t = Math.max(0, Math.min(1, t));
    var x = t * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
    var c = stops[i].map(function (a, k) { return Math.round(a + f * (stops[i + 1][k] - a)); });
    return 'rgb(' + c.join(',') + ')';
  }
  function scaled(rule, value, fallback) {  // {field, min, max, lo, hi, sqrt}
    if (!rule || value === null || value === undefined) { return fallback; }
    var span = rule.max - rule.min, t = span > 0 ? (value - rule.min) / span : 1;
    t = Math.max(0, Math.min(1, t));
    if (rule.sqrt) { t = Math.sqrt(t); }
    return rule.lo + t * (rule.hi - rule.lo);
  }

  /* ---------------------------------------------------------------- map and bases */
  // the table takes its share of the page first, so the map is fitted to its own size
  if (spec.table) { document.body.classList.add('has-table'); }
  // One canvas for every vector layer; its hit test prefers the highest sitingRank
  // (decidable layers rank above all others), then the layer drawn last (Leaflet's rule).
  var SitingCanvas = L.Canvas.extend({
    _sitingPick: function (point, e) {
      var best = null, bestRank = -Infinity;
      for (var o = this._drawFirst; o; o = o.next) {
        var l = o.layer;
        if (!l.options.interactive || !l._containsPoint(point)) { continue; }
        if (e && (e.type === 'click' || e.type === 'preclick') && this._map._draggableMoved(l)) {
          continue;
        }
        var rank = l.options.sitingRank || 0;
        if (rank >= bestRank) { best = l; bestRank = rank; }
      }
      return best;
    },
    _onClick: function (e) {
      var layer = this._sitingPick(this._map.mouseEventToLayerPoint(e), e);
      this._fireEvent(layer ? [layer] : false, e);
    },
    _handleMouseHover: function (e, point) {
      if (this._mouseHoverThrottled) { return; }
      var layer = this._sitingPick(point, null);
      if (layer !== this._hoveredLayer) {
        this._handleMouseOut(e);
        if (layer) {
          L.DomUtil.addClass(this._container, 'leaflet-interactive');
          this._fireEvent([layer], e, 'mouseover');
          this._hoveredLayer = layer;
        }
      }
      this._fireEvent(this._hoveredLayer ? [this._hoveredLayer] : false, e);
      this._mouseHoverThrottled = true;
      setTimeout(L.bind(function () { this._mouseHoverThrottled = false; }, this), 32);
    }
  });
  var map = L.map('map', {preferCanvas: true, zoomSnap: 0.25, minZoom: 3, maxZoom: 19});
  var canvas = new SitingCanvas({padding: 0.3, tolerance: 4});
  function regionBounds() { return L.latLngBounds(spec.bounds); }
  function fitRegion() {
    map.invalidateSize({pan: false});
    map.fitBounds(regionBounds(), {padding: [6, 6], animate: false});
  }
  fitRegion();
  map.attributionControl.setPrefix('Leaflet');
  spec.attribution.forEach(function (a) { map.attributionControl.addAttribution(escapeHtml(a)); });

  function offlineBase() {
    var group = L.layerGroup();
    (spec.basemap.roads || []).forEach(function (cls) {
      L.geoJSON({type: 'Feature', geometry: cls.geometry, properties: {}}, {
        renderer: canvas, interactive: false,
        style: {color: cls.color, weight: cls.weight, opacity: 0.9}
      }).addTo(group);
    });
    group.on('add', function () { map.getContainer().classList.add('siting-offline-base'); });
    group.on('remove', function () { map.getContainer().classList.remove('siting-offline-base'); });
    return group;
  }
  function tiandituKey() {
    var m = /(?:^#|&)tk=([^&]+)/.exec(location.hash);
    if (m) { return decodeURIComponent(m[1]); }
    var stored = null;
    try { stored = localStorage.getItem(KEY_STORE); } catch (e) { stored = null; }
    if (stored) { return stored; }
    var typed = window.prompt('Tianditu key (tk). It is kept in this browser only, never in ' +
                              'the file. Cancel to stay offline.');
    if (typed) {
      try { localStorage.setItem(KEY_STORE, typed.trim()); } catch (e) { /* private mode */ }
      return typed.trim();
    }
    return null;
  }
  function tiandituBase(kind, label) {
    var url = 'https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile' +
      '&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles' +
      '&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={tk}';
    var notes = kind === 'img' ? 'cia' : 'cva';
    var opts = {subdomains: '01234567', maxZoom: 18, tk: '',
                attribution: 'Tianditu ' + label + ' © National Platform for Common Geospatial ' +
                             'Information Services'};
    var base = L.tileLayer(url, L.extend({layer: kind}, opts));
    var text = L.tileLayer(url, L.extend({layer: notes}, opts));
    var group = L.layerGroup();
    group.onAdd = function (m) {
      var key = tiandituKey();
      if (!key) {
        setTimeout(function () { m.removeLayer(group); bases[spec.basemap.offlineName].addTo(m); }, 0);
        return;
      }
      base.options.tk = key; text.options.tk = key;
      L.LayerGroup.prototype.onAdd.call(group, m);
    };
    group.addLayer(base); group.addLayer(text);
    return group;
  }
  var bases = {};
  bases[spec.basemap.offlineName] = offlineBase();
  if (spec.basemap.online) {
    bases['OpenStreetMap (online)'] = L.tileLayer('https://tile.openstreetmap.org/{z}/{x}/{y}.png', {
      maxZoom: 19, attribution: '© OpenStreetMap contributors'});
    if (spec.basemap.tianditu !== false) {  // only for regions in China
      bases['Tianditu vector (online, key)'] = tiandituBase('vec', 'vector');
      bases['Tianditu imagery (online, key)'] = tiandituBase('img', 'imagery');
    }
  }
  bases[spec.basemap.offlineName].addTo(map);

  /* ---------------------------------------------------------------- decisions */
  var decisions = {};
  try { decisions = JSON.parse(localStorage.getItem(STORE) || '{}') || {}; } catch (e) { decisions = {}; }
  var index = {};       // "layer:id" -> {spec, i, layer}
  var groups = {};      // layer id -> leaflet layer (the overlay)
  var counts = {};      // layer id -> number of drawn features
  // visible clustered layers cluster in chunks after being added; "ready" waits for them
  var clustering = (function () {
    var pending = 0, callbacks = [], started = false;
    function fire() { if (started && pending === 0) { callbacks.splice(0).forEach(function (f) { f(); }); } }
    return {
      add: function () { pending++; },
      finished: function () { pending--; fire(); },
      done: function (f) { callbacks.push(f); started = true; fire(); }
    };
  }());

  function itemKey(ls, i) { return ls.id + ':' + String(ls.data.props[ls.idField][i]); }
  function saveDecisions() {
    try { localStorage.setItem(STORE, JSON.stringify(decisions)); } catch (e) { /* ignore */ }
    updateDecisionPanel();
  }
  function restyle(key) {
    var item = index[key];
    if (!item || !item.layer.setStyle) { return; }
    var d = decisions[key] && decisions[key].decision;
    var base = item.layer.sitingStyle;
    if (d === 'rejected') {
      item.layer.setStyle({color: '#111', dashArray: '4 3', fillColor: '#9e9e9e', weight: 2.5});
    } else if (d === 'approved') {
      item.layer.setStyle(L.extend({}, base, {color: '#1a7f37', weight: (base.weight || 1) + 2}));
    } else {
      item.layer.setStyle(L.extend({dashArray: null}, base));
    }
  }
  function setDecision(layerId, id, decision, comment) {
    var key = layerId + ':' + String(id);
    if (!index[key]) { throw new Error('no item ' + key + ' on this map'); }
    if (!decision) { delete decisions[key]; } else {
      decisions[key] = {decision: decision, comment: comment || '',
                        timestamp: new Date().toISOString()};
    }
    restyle(key);
    saveDecisions();
  }
  function geometryOf(item) {
    var ls = item.spec, i = item.i;
    if (ls.data.x) { return {type: 'Point', coordinates: [ls.data.x[i], ls.data.y[i]]}; }
    return ls.data.geoms[i];
  }
  function decisionsGeoJSON() {
    var reviewer = (document.getElementById('siting-reviewer') || {}).value || '';
    var features = Object.keys(decisions).sort().filter(function (k) { return index[k]; }).map(function (k) {
      var item = index[k], d = decisions[k];
      return {type: 'Feature', geometry: geometryOf(item), properties: {
        layer: item.spec.id, id: String(item.spec.data.props[item.spec.idField][item.i]),
        decision: d.decision, comment: d.comment || '', reviewer: reviewer,
        timestamp: d.timestamp, plan: spec.planId}};
    });
    return {type: 'FeatureCollection', siting_decisions: 1, plan: spec.planId, title: spec.title,
            created: new Date().toISOString(), reviewer: reviewer, features: features};
  }
  function downloadDecisions() {
    var blob = new Blob([JSON.stringify(decisionsGeoJSON(), null, 1)], {type: 'application/geo+json'});
    var a = el('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'decisions.geojson';
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  function loadDecisions(text) {
    var fc = JSON.parse(text), n = 0, skipped = 0;
    (fc.features || []).forEach(function (f) {
      var p = f.properties || {}, key = p.layer + ':' + String(p.id);
      if (!index[key] || (p.decision !== 'approved' && p.decision !== 'rejected')) { skipped++; return; }
      decisions[key] = {decision: p.decision, comment: p.comment || '',
                        timestamp: p.timestamp || new Date().toISOString()};
      restyle(key); n++;
    });
    saveDecisions();
    return {loaded: n, skipped: skipped};
  }

  /* ---------------------------------------------------------------- popups */
  function popupContent(ls, i) {
    var box = el('div', 'siting-popup');
    var name = ls.nameField ? ls.data.props[ls.nameField][i] : null;
    box.appendChild(el('div', 'siting-popup-title',
      ls.title + (name !== null && name !== undefined && name !== '' ? ': ' + name : '')));
    var table = el('table');
    ls.fields.forEach(function (f) {
      var v = ls.data.props[f[0]] ? ls.data.props[f[0]][i] : null;
      if (v === null || v === undefined) { return; }
      var tr = el('tr');
      tr.appendChild(el('th', null, f[1]));
      tr.appendChild(el('td', null, fmt(v, f[2])));
      table.appendChild(tr);
    });
    box.appendChild(table);
    if (ls.synthetic) { box.appendChild(el('div', 'siting-synthetic', msg('synthetic_layer', 'synthetic layer'))); }
    if (ls.readOnly) { box.appendChild(el('div', 'siting-readonly', ls.readOnly)); }
    if (ls.decide) { box.appendChild(decisionControls(ls, i)); }
    return box;
  }
  function decisionControls(ls, i) {
    var key = itemKey(ls, i), id = ls.data.props[ls.idField][i];
    var wrap = el('div', 'siting-decide');
    var state = el('div', 'siting-decide-state');
    var comment = el('textarea', 'siting-comment');
    comment.placeholder = msg('comment', 'comment (optional)');
    comment.rows = 2;
    comment.value = decisions[key] ? decisions[key].comment : '';
    function show() {
      var d = decisions[key];
      state.textContent = d ? msg('decision', 'Decision: ') + msg(d.decision, d.decision)
                            : msg('no_decision', 'No decision yet');
      state.className = 'siting-decide-state ' + (d ? 'is-' + d.decision : '');
    }
    function button(label, cls, decision) {
      var b = el('button', 'siting-btn ' + cls, label);
      b.type = 'button';
      b.addEventListener('click', function () { setDecision(ls.id, id, decision, comment.value); show(); });
      return b;
    }
    comment.addEventListener('change', function () {
      if (decisions[key]) { decisions[key].comment = comment.value; saveDecisions(); }
    });
    var row = el('div', 'siting-decide-buttons');
    row.appendChild(button(msg('approve', 'Approve'), 'siting-approve', 'approved'));
    row.appendChild(button(msg('reject', 'Reject'), 'siting-reject', 'rejected'));
    row.appendChild(button(msg('clear', 'Clear'), 'siting-clear', null));
    wrap.appendChild(state); wrap.appendChild(row); wrap.appendChild(comment);
    show();
    return wrap;
  }
  function setRank(layer, rank) {
    if (layer.eachLayer) { layer.eachLayer(function (l) { setRank(l, rank); }); }
    else { layer.options.sitingRank = rank; }
  }
  function bindItem(ls, i, layer, style) {
    layer.sitingStyle = style;
    setRank(layer, ls.rank);
    layer.bindPopup(function () { return popupContent(ls, i); }, {maxWidth: 320});
    if (ls.nameField) {
      var name = ls.data.props[ls.nameField][i];
      if (name !== null && name !== undefined && name !== '') {
        layer.bindTooltip(escapeHtml(name), {sticky: true});
      }
    }
    if (ls.idField) {
      var key = itemKey(ls, i);
      index[key] = {spec: ls, i: i, layer: layer};
      if (decisions[key]) { restyle(key); }
    }
  }

  /* ---------------------------------------------------------------- layer builders */
  function colourOf(ls, i) {
    var rule = ls.colorBy;
    if (!rule) { return ls.color; }
    var v = ls.data.props[rule.field][i];
    if (rule.categories) { return rule.categories[String(v)] || ls.color; }
    if (v === null || v === undefined) { return '#999'; }
    var span = rule.max - rule.min;
    return lerp(rule.ramp, span > 0 ? (v - rule.min) / span : 1);
  }
  function pointStyle(ls, i) {
    var r = ls.size ? scaled(ls.size, ls.data.props[ls.size.field][i], ls.radius) : ls.radius;
    var c = colourOf(ls, i);
    return {radius: r, color: ls.stroke || '#222', weight: 1, fillColor: c, fillOpacity: 0.85,
            renderer: canvas};
  }
  function buildPoints(ls) {
    var d = ls.data, n = d.x.length, markers = [];
    var sumField = ls.clusterField || (ls.size && ls.size.field);
    for (var i = 0; i < n; i++) {
      var style = pointStyle(ls, i);
      var m = L.circleMarker([d.y[i], d.x[i]], style);
      if (sumField) { m.options.weight_value = d.props[sumField][i] || 0; }
      bindItem(ls, i, m, style);
      markers.push(m);
    }
    counts[ls.id] = n;
    if (!ls.cluster) { return L.featureGroup(markers); }
    var waiting = ls.show && n > 0;
    if (waiting) { clustering.add(); }
    var group = L.markerClusterGroup({
      chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45,
      chunkProgress: function (processed, total) {
        if (waiting && processed >= total) { waiting = false; clustering.finished(); }
      },
      disableClusteringAtZoom: 15, spiderfyOnMaxZoom: true,
      iconCreateFunction: function (cluster) {
        var total = 0;
        cluster.getAllChildMarkers().forEach(function (m) { total += m.options.weight_value || 0; });
        var n2 = cluster.getChildCount();
        var size = n2 < 10 ? 'small' : n2 < 100 ? 'medium' : 'large';
        // the total of the summed column ("4,000" piles); a cluster whose total is 0
        // (e.g. only later-stage sites) shows its number of sites instead, never "0"
        var label = sumField && Math.round(total) > 0 ? Math.round(total).toLocaleString('en-US')
          : n2.toLocaleString('en-US') + (sumField ? ' sites' : '');
        // wide enough for the whole label: about 7 px a character at 11 px bold
        var inner = Math.max(34, Math.ceil(label.length * 7 + 10)), outer = inner + 10;
        return L.divIcon({html: '<div style="width:' + inner + 'px;border-radius:' +
                                (inner / 2) + 'px"><span>' + escapeHtml(label) + '</span></div>',
                          className: 'marker-cluster marker-cluster-' + size + ' siting-cluster',
                          iconSize: L.point(outer, 44)});
      }
    });
    group.on('clustermouseover', function (e) {
      var total = 0;
      e.layer.getAllChildMarkers().forEach(function (m) { total += m.options.weight_value || 0; });
      e.layer.bindTooltip(escapeHtml(ls.title) + ': ' + e.layer.getChildCount() + ' sites' +
        (sumField && ls.size ? ', ' + Math.round(total).toLocaleString('en-US') + ' ' +
         escapeHtml(ls.size.label) : ''))
        .openTooltip();
    });
    group.addLayers(markers);
    return group;
  }
  function buildShapes(ls) {
    var d = ls.data, group = L.featureGroup(), n = d.geoms.length;
    for (var i = 0; i < n; i++) {
      var c = colourOf(ls, i);
      var style = ls.kind === 'lines'
        ? {color: c, weight: ls.width ? scaled(ls.width, d.props[ls.width.field][i], ls.weight) : ls.weight,
           opacity: 0.9, dashArray: ls.dash || null}
        : {color: c, weight: ls.weight, fillColor: c, fillOpacity: ls.fillOpacity,
           dashArray: ls.dash || null};
      var layer = L.geoJSON({type: 'Feature', geometry: d.geoms[i], properties: {}}, {
        renderer: canvas, style: style, interactive: ls.interactive,
        // points among shapes (e.g. a station's finding) as canvas circles, never image markers
        pointToLayer: function (f, latlng) {
          return L.circleMarker(latlng, {radius: ls.radius, renderer: canvas});
        }});
      if (ls.interactive) { bindItem(ls, i, layer, style); }
      group.addLayer(layer);
    }
    counts[ls.id] = n;
    return group;
  }
  function buildHeat(ls) {
    var p = ls.data.points, pts = [];
    for (var i = 0; i < p.length; i += 3) { pts.push([p[i], p[i + 1], p[i + 2]]); }
    counts[ls.id] = pts.length;
    // wrapped in a group: the layer control would read the heat layer's maxZoom (the zoom
    // of full intensity) as a visibility limit and grey the layer out when zoomed in
    var heat = L.heatLayer(pts, {radius: ls.radius || 9, blur: 12, minOpacity: 0.05,
      max: 1, maxZoom: 12,
      gradient: {0.15: '#fff7bc', 0.35: '#fec44f', 0.6: '#fe9929', 0.8: '#ec7014', 1.0: '#993404'}});
    // a heat map is a picture: its canvas (above the vector canvas) never takes a click
    heat.on('add', function () { if (heat._canvas) { heat._canvas.style.pointerEvents = 'none'; } });
    return L.layerGroup([heat]);
  }
  function buildCircles(ls) {
    var src = spec.layers.filter(function (s) { return s.id === ls.of; })[0];
    var group = L.featureGroup();
    if (!src) { counts[ls.id] = 0; return group; }
    for (var i = 0; i < src.data.x.length; i++) {
      L.circle([src.data.y[i], src.data.x[i]], {radius: ls.radius_m, renderer: canvas, stroke: false,
        fillColor: ls.color, fillOpacity: 0.08, interactive: false}).addTo(group);
    }
    counts[ls.id] = src.data.x.length;
    return group;
  }
  var builders = {points: buildPoints, lines: buildShapes, polygons: buildShapes,
                  heat: buildHeat, circles: buildCircles};

  var overlays = {};
  var buildMs = {base: performance.now() - parsedMs};
  // click priority: decidable layers above every other, then the drawing order
  spec.layers.forEach(function (ls, k) { ls.rank = k + 1 + (ls.decide ? 10000 : 0); });
  spec.layers.forEach(function (ls) {
    var t0 = performance.now();
    var layer = builders[ls.kind](ls);
    groups[ls.id] = layer;
    var label = escapeHtml(ls.title) + (ls.synthetic ? ' <i>' + escapeHtml(msg('synthetic_suffix', ' (synthetic)')) + '</i>' : '') +
      ' <span class="siting-count">' + (counts[ls.id] || 0).toLocaleString('en-US') + '</span>';
    overlays[label] = layer;
    if (ls.show) { layer.addTo(map); }
    buildMs[ls.id] = performance.now() - t0;
  });

  // decidable layers are drawn on top, also after another overlay is switched on
  function raiseDecidable() {
    spec.layers.forEach(function (ls) {
      if (!ls.decide || !map.hasLayer(groups[ls.id])) { return; }
      Object.keys(index).forEach(function (k) {
        var item = index[k];
        if (item.spec === ls && item.layer.bringToFront) { item.layer.bringToFront(); }
      });
    });
  }
  raiseDecidable();
  map.on('overlayadd', raiseDecidable);

  /* ---------------------------------------------------------------- controls */
  var layersControl = L.control.layers(bases, overlays,
    {collapsed: spec.layers.length > 14, position: 'topright'}).addTo(map);
  L.control.scale({imperial: false, maxWidth: 160}).addTo(map);
  new L.Control.FullScreen({position: 'topleft', title: msg('full_screen', 'Full screen')}).addTo(map);
  L.control.polylineMeasure({position: 'topleft', unit: 'kilometres', showBearings: false,
                             clearMeasurementsOnStop: false, showClearControl: true,
                             measureControlTitleOn: msg('measure', 'Measure distance'),
                             measureControlTitleOff: msg('measure_stop', 'Stop measuring')}).addTo(map);

  function panel(position, cls, build) {
    var Ctl = L.Control.extend({onAdd: function () {
      var div = el('div', 'leaflet-bar siting-panel ' + cls);
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      build(div);
      return div;
    }});
    return new Ctl({position: position}).addTo(map);
  }
  panel('topleft', 'siting-title', function (div) {
    div.appendChild(el('div', 'siting-title-main', spec.title));
    if (spec.subtitle) { div.appendChild(el('div', 'siting-title-sub', spec.subtitle)); }
    if (spec.syntheticNote) { div.appendChild(el('div', 'siting-synthetic', spec.syntheticNote)); }
  });
  if (spec.kpis.length) {
    panel('topleft', 'siting-kpis', function (div) {
      var head = el('button', 'siting-toggle', msg('key_figures', 'Key figures'));
      head.type = 'button';
      var body = el('div', 'siting-kpi-body');
      head.addEventListener('click', function () { body.hidden = !body.hidden; fitPanels(); });
      spec.kpis.forEach(function (g) {
        body.appendChild(el('div', 'siting-kpi-group', g.group));
        var t = el('table');
        g.rows.forEach(function (r) {
          var tr = el('tr'); tr.appendChild(el('th', null, r[0])); tr.appendChild(el('td', null, r[1]));
          t.appendChild(tr);
        });
        body.appendChild(t);
      });
      div.appendChild(head); div.appendChild(body);
    });
  }
  panel('bottomright', 'siting-legend', function (div) {
    div.appendChild(el('div', 'siting-legend-title', msg('legend', 'Legend')));
    spec.layers.forEach(function (ls) {
      if (!ls.legend) { return; }
      var row = el('div', 'siting-legend-row');
      row.dataset.layer = ls.id;
      var sw = el('span', 'siting-swatch siting-swatch-' + ls.legend.shape);
      sw.style.background = ls.legend.fill || 'transparent';
      sw.style.borderColor = ls.legend.color || ls.color;
      if (ls.legend.shape === 'line') { sw.style.background = ls.legend.color || ls.color; }
      row.appendChild(sw);
      row.appendChild(el('span', null, ls.title + (ls.synthetic ? msg('synthetic_suffix', ' (synthetic)') : '')));
      if (ls.legend.note) { row.appendChild(el('div', 'siting-legend-note', ls.legend.note)); }
      if (ls.colorBy && ls.colorBy.ramp) {
        var ramp = el('div', 'siting-ramp');
        ramp.style.background = 'linear-gradient(to right,' + ls.colorBy.ramp.map(function (c) {
          return 'rgb(' + c.join(',') + ')'; }).join(',') + ')';
        row.appendChild(ramp);
        row.appendChild(el('div', 'siting-legend-note',
          ls.colorBy.label + ': ' + fmt(ls.colorBy.min) + ' – ' + fmt(ls.colorBy.max)));
      }
      if (ls.colorBy && ls.colorBy.categories) {
        Object.keys(ls.colorBy.categories).forEach(function (k) {
          var c = el('div', 'siting-legend-note');
          var s = el('span', 'siting-swatch siting-swatch-point');
          s.style.background = ls.colorBy.categories[k];
          c.appendChild(s); c.appendChild(document.createTextNode(k));
          row.appendChild(c);
        });
      }
      div.appendChild(row);
    });
    function sync() {
      div.querySelectorAll('.siting-legend-row').forEach(function (r) {
        r.classList.toggle('is-hidden', !map.hasLayer(groups[r.dataset.layer]));
      });
    }
    map.on('overlayadd overlayremove', function () { sync(); fitPanels(); });
    sync();
  });

  var decisionPanel = null;
  function updateDecisionPanel() {
    if (!decisionPanel) { return; }
    var a = 0, r = 0;
    Object.keys(decisions).forEach(function (k) {
      if (!index[k]) { return; }
      if (decisions[k].decision === 'approved') { a++; } else { r++; }
    });
    decisionPanel.textContent = a + ' ' + msg('approved', 'approved') + ' · ' + r + ' ' +
      msg('rejected', 'rejected');
  }
  if (spec.layers.some(function (ls) { return ls.decide; })) {
    panel('bottomleft', 'siting-decisions', function (div) {
      div.appendChild(el('div', 'siting-legend-title', msg('review_decisions', 'Review decisions')));
      decisionPanel = el('div', 'siting-decision-count');
      div.appendChild(decisionPanel);
      var who = el('input'); who.id = 'siting-reviewer'; who.placeholder = msg('reviewer', 'reviewer (optional)');
      div.appendChild(who);
      var dl = el('button', 'siting-btn siting-download', msg('download_decisions', 'Download decisions.geojson'));
      dl.type = 'button'; dl.addEventListener('click', downloadDecisions);
      div.appendChild(dl);
      var load = el('label', 'siting-btn siting-load', msg('load_decisions', 'Load decisions…'));
      var file = el('input'); file.type = 'file'; file.accept = '.geojson,.json'; file.hidden = true;
      file.addEventListener('change', function () {
        var f = file.files[0]; if (!f) { return; }
        f.text().then(function (t) {
          var res = loadDecisions(t);
          window.alert(res.loaded + msg('decisions_loaded', ' decisions loaded') +
            (res.skipped ? ', ' + res.skipped + msg('not_on_map', ' not on this map') : ''));
        });
      });
      load.appendChild(file);
      div.appendChild(load);
      div.appendChild(el('div', 'siting-legend-note',
        msg('decisions_help', 'Open a station, park or pipe to approve or reject it. ' +
            'Decisions stay in this browser until downloaded.')));
    });
    updateDecisionPanel();
  }

  /* ---------------------------------------------------------------- table */
  function openItem(layerId, id) {
    var item = index[layerId + ':' + String(id)];
    if (!item) { return false; }
    var g = groups[layerId];
    if (!map.hasLayer(g)) { g.addTo(map); }
    var open = function () { item.layer.openPopup(item.layer.getLatLng ? item.layer.getLatLng() : undefined); };
    if (g.zoomToShowLayer) { g.zoomToShowLayer(item.layer, open); } else {
      if (item.layer.getBounds) { map.fitBounds(item.layer.getBounds(), {maxZoom: 15}); }
      else { map.setView(item.layer.getLatLng(), Math.max(map.getZoom(), 14)); }
      open();
    }
    return true;
  }
  if (spec.table) {
    var box = el('div', 'siting-table');
    var bar = el('div', 'siting-table-bar');
    bar.appendChild(el('b', null, spec.table.title));
    var filter = el('input'); filter.placeholder = msg('filter_rows', 'filter rows');
    bar.appendChild(filter);
    var toggle = el('button', 'siting-toggle', msg('hide', 'hide')); toggle.type = 'button';
    bar.appendChild(toggle);
    box.appendChild(bar);
    var wrap = el('div', 'siting-table-wrap');
    var table = el('table'), thead = el('thead'), tr = el('tr');
    spec.table.columns.forEach(function (c) { tr.appendChild(el('th', null, c)); });
    thead.appendChild(tr); table.appendChild(thead);
    var tbody = el('tbody');
    spec.table.rows.forEach(function (row) {
      var r = el('tr');
      row.forEach(function (v) { r.appendChild(el('td', null, fmt(v))); });
      if (spec.table.link) {
        var li = spec.table.link;
        r.classList.add('is-link');
        r.addEventListener('click', function () {
          openItem((li.length > 2 ? row[li[2]] + ':' : '') + row[li[0]], row[li[1]]);
        });
      }
      r.dataset.text = row.join(' ').toLowerCase();
      tbody.appendChild(r);
    });
    if (!spec.table.rows.length) {
      var empty = el('tr'), td = el('td', null, spec.table.empty || 'no rows');
      td.colSpan = spec.table.columns.length; empty.appendChild(td); tbody.appendChild(empty);
    }
    table.appendChild(tbody); wrap.appendChild(table); box.appendChild(wrap);
    filter.addEventListener('input', function () {
      var q = filter.value.toLowerCase();
      tbody.querySelectorAll('tr').forEach(function (r) {
        r.hidden = q !== '' && (r.dataset.text || '').indexOf(q) < 0;
      });
    });
    toggle.addEventListener('click', function () {
      wrap.hidden = !wrap.hidden; toggle.textContent = wrap.hidden ? msg('show', 'show') : msg('hide', 'hide');
    });
    document.body.appendChild(box);
  }

  /* ---------------------------------------------------------------- layout */
  function boxOf(e) { return e ? e.getBoundingClientRect() : null; }
  // the lowest bottom edge of a top corner's controls, and the highest top edge of a
  // bottom corner's, in page coordinates
  function cornerTop(corner) {
    var top = Infinity;
    Array.prototype.forEach.call(corner.children, function (c) {
      if (c.offsetParent !== null) { top = Math.min(top, boxOf(c).top - parseFloat(getComputedStyle(c).marginTop || 0)); }
    });
    return top;
  }
  function fitPanels() {
    var c = map.getContainer(), size = boxOf(c), gap = 8;
    [['left', '.siting-kpis'], ['right', '.siting-legend']].forEach(function (side) {
      var topCorner = c.querySelector('.leaflet-top.leaflet-' + side[0]);
      var bottomCorner = c.querySelector('.leaflet-bottom.leaflet-' + side[0]);
      var panelEl = c.querySelector(side[1]);
      if (!panelEl) { return; }
      panelEl.style.maxHeight = '';
      panelEl.style.display = '';
      var top = side[0] === 'left' ? boxOf(panelEl).top : boxOf(topCorner).bottom + gap;
      var bottom = side[0] === 'left' ? Math.min(cornerTop(bottomCorner), size.bottom) - gap
        : boxOf(panelEl).bottom;
      if (side[0] === 'right') {
        // the legend sits in the bottom corner: it may grow up to the top corner's controls
        var layersBox = boxOf(layersControl.getContainer());
        if (bottom - (layersBox.bottom + gap) < 60 && layersControl.collapse) {
          layersControl.collapse();
          layersBox = boxOf(layersControl.getContainer());
        }
        top = layersBox.bottom + gap;
      }
      var room = Math.floor(bottom - top);
      if (room < 24) { panelEl.style.display = 'none'; return; }
      panelEl.style.maxHeight = room + 'px';
    });
  }
  function regionInView() {
    var b = regionBounds(), s = map.getSize();
    var nw = map.latLngToContainerPoint(b.getNorthWest()), se = map.latLngToContainerPoint(b.getSouthEast());
    return nw.x >= -1 && nw.y >= -1 && se.x <= s.x + 1 && se.y <= s.y + 1;
  }
  map.on('resize', fitPanels);
  fitPanels();

  window.siting = {map: map, layers: groups, counts: counts, ready: false, planId: spec.planId,
                   startMs: startMs, parsedMs: parsedMs, buildMs: buildMs,
                   openItem: openItem, setDecision: setDecision, decisionsGeoJSON: decisionsGeoJSON,
                   fitPanels: fitPanels, fitRegion: fitRegion, regionInView: regionInView,
                   downloadDecisions: downloadDecisions, loadDecisions: loadDecisions,
                   decisions: function () { return JSON.parse(JSON.stringify(decisions)); }};
  clustering.done(function () {
    // the layout has settled: fit again if the map's size changed since the first fit
    if (!regionInView()) { fitRegion(); }
    fitPanels();
    window.siting.ready = true;
    window.siting.readyMs = performance.now();
    document.body.dataset.sitingReady = '1';
    // two animation frames later the canvas layers have been painted once
    requestAnimationFrame(function () {
      requestAnimationFrame(function () { window.siting.paintedMs = performance.now(); });
    });
  });
}());
