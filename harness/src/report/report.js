/*
 * The run report's drawing (harness/src/report.c embeds this file). It
 * reads the run's data from the #data element and draws the cluster
 * timeline, the history lanes, the failing window, the latency and
 * throughput charts (Chart.js) and the events.log excerpt. Strings from
 * the run are only ever set as text (textContent, SVG <title> text),
 * never parsed as HTML. When everything is drawn, <body> gets
 * data-ready="1".
 */
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('data').textContent);
  var SVGNS = 'http://www.w3.org/2000/svg';
  var W = Math.max(900, Math.min(1800, document.documentElement.clientWidth - 50));
  var LEFT = 110;
  var RIGHT = 20;
  var PW = W - LEFT - RIGHT;
  var T = Math.max(D.run_ms, 1);
  var ROLE = {1: 'follower', 2: 'pre-candidate', 3: 'candidate', 4: 'leader'};
  var ROLE_COLOR = {1: '#a9c1dd', 2: '#f5b7b1', 3: '#e8833a', 4: '#2e8b3a'};
  var STATE = ['outside the cluster', 'up', 'paused', 'crashed', 'storage failed'];
  var STATE_COLOR = {0: '#ffffff', 2: '#e8e05a', 3: '#333333', 4: '#8e44ad'};
  var NET = [[1, 'partition', '#e74c3c'], [2, 'one-way cut', '#c0569b'],
             [4, 'link faults', '#3498db']];
  var OUT = ['ok', 'fail', 'info', 'mismatch'];
  var OUT_COLOR = ['#2e8b3a', '#c0392b', '#d4a017', '#7f8c8d'];

  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function html(tag, text, parent, cls) {
    var e = document.createElement(tag);
    if (text !== null && text !== undefined) { e.textContent = text; }
    if (cls) { e.className = cls; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function title(e, text) { svg('title', {}, e).textContent = text; }
  function sec(t) { return (t / 1000).toFixed(3) + ' s'; }
  function swatch(parent, color, text) {
    var s = html('span', null, parent, 'sw');
    s.style.background = color;
    s.style.border = '1px solid #999';
    parent.appendChild(document.createTextNode(text));
  }

  /* An x scale over [from, to] ms onto [LEFT, LEFT + PW]. */
  function scale(from, to) {
    var span = Math.max(to - from, 1e-3);
    return function (t) {
      return LEFT + (Math.max(from, Math.min(to, t)) - from) / span * PW;
    };
  }
  function niceStep(span) {
    var raw = span / 10;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }
  function axis(g, x, from, to, y, height) {
    var step = niceStep(Math.max(to - from, 1e-3));
    for (var t = Math.ceil(from / step) * step; t <= to + 1e-9; t += step) {
      svg('line', {x1: x(t), x2: x(t), y1: y, y2: y + height,
                   stroke: '#e4e4e4'}, g);
      var label = step >= 1000 ? (t / 1000).toFixed(0) + ' s'
                : step >= 100 ? (t / 1000).toFixed(1) + ' s'
                : t.toFixed(step >= 1 ? 0 : 1) + ' ms';
      svg('text', {x: x(t), y: y - 3, 'text-anchor': 'middle',
                   fill: '#555'}, g).textContent = label;
    }
  }
  function highlight(g, x, y, height) {
    if (D.window) {
      var r = svg('rect', {x: x(D.window.from), y: y,
                           width: Math.max(2, x(D.window.to) - x(D.window.from)),
                           height: height, fill: 'rgba(255,215,0,0.35)',
                           stroke: '#c79100'}, g);
      title(r, 'failing window ' + sec(D.window.from) + ' - ' +
            sec(D.window.to) + ': ' + D.window.why);
    }
    if (D.violation && D.violation.at !== null) {
      var l = svg('line', {x1: x(D.violation.at), x2: x(D.violation.at),
                           y1: y, y2: y + height, stroke: '#c0392b',
                           'stroke-width': 2}, g);
      title(l, 'safety violation seen at ' + sec(D.violation.at) + ': ' +
            D.violation.text);
    }
  }

  /* Bands of faults: the network's, and nodes paused, crashed or failed. */
  function faultBands() {
    var bands = [];
    D.net.forEach(function (n) {
      NET.forEach(function (k) {
        if (n[2] & k[0]) { bands.push([n[0], n[1], k[2], k[1] + ': ' + n[3]]); }
      });
    });
    D.roles.forEach(function (segs, i) {
      segs.forEach(function (s) {
        if (s[2] >= 2) {
          bands.push([s[0], s[1], STATE_COLOR[s[2]],
                      'node ' + (i + 1) + ' ' + STATE[s[2]]]);
        }
      });
    });
    return bands;
  }

  function drawTimeline() {
    var legend = document.getElementById('timeline-legend');
    [1, 2, 3, 4].forEach(function (r) { swatch(legend, ROLE_COLOR[r], ROLE[r]); });
    [2, 3, 4, 0].forEach(function (s) { swatch(legend, STATE_COLOR[s], STATE[s]); });
    NET.forEach(function (k) { swatch(legend, k[2], k[1]); });
    var rowH = 22;
    var top = 18;
    var height = top + NET.length * 14 + 6 + D.roles.length * rowH + 4;
    var root = svg('svg', {width: W, height: height, id: 'timeline-svg'},
                   document.getElementById('timeline'));
    var x = scale(0, T);
    axis(root, x, 0, T, top, height - top);
    NET.forEach(function (k, j) {
      var y = top + j * 14;
      var g = svg('g', {'class': 'net-row'}, root);
      svg('text', {x: 4, y: y + 10, fill: '#555'}, g).textContent = k[1];
      D.net.forEach(function (n) {
        if (!(n[2] & k[0])) { return; }
        var r = svg('rect', {x: x(n[0]), y: y + 1,
                             width: Math.max(1, x(n[1]) - x(n[0])), height: 11,
                             fill: k[2], opacity: 0.75}, g);
        title(r, k[1] + ' ' + sec(n[0]) + ' - ' + sec(n[1]) + ': ' + n[3]);
      });
    });
    var y0 = top + NET.length * 14 + 6;
    /* The nodes a safety violation names ("nodes 3 and 1 ...", "node 2
     * ..."): their labels in red. */
    var named = {};
    if (D.violation) {
      var re = /nodes? (\d+)(?: and (\d+))?/g;
      var m;
      while ((m = re.exec(D.violation.text)) !== null) {
        named[m[1]] = true;
        if (m[2]) { named[m[2]] = true; }
      }
    }
    D.roles.forEach(function (segs, i) {
      var y = y0 + i * rowH;
      var g = svg('g', {'class': 'node-row', 'data-node': i + 1}, root);
      var label = svg('text', {x: 4, y: y + 14}, g);
      label.textContent = 'node ' + (i + 1);
      if (named[i + 1]) {
        label.setAttribute('fill', '#c0392b');
        label.setAttribute('font-weight', 'bold');
        title(label, 'named by the safety violation');
      }
      segs.forEach(function (s) {
        var up = s[2] === 1;
        var fill = up ? (ROLE_COLOR[s[3]] || '#ccc') : STATE_COLOR[s[2]];
        var w = Math.max(1, x(s[1]) - x(s[0]));
        var r = svg('rect', {x: x(s[0]), y: y + 2, width: w, height: rowH - 5,
                             fill: fill, stroke: s[2] === 0 ? '#ccc' : 'none'}, g);
        title(r, 'node ' + (i + 1) + ' ' + sec(s[0]) + ' - ' + sec(s[1]) + ': ' +
              (up ? ROLE[s[3]] + ', term ' + s[4] : STATE[s[2]]));
        if (w > 26 && up) {
          svg('text', {x: x(s[0]) + 3, y: y + 14,
                       fill: s[2] === 3 || s[3] === 4 ? '#fff' : '#222'},
              g).textContent = 't' + s[4];
        }
      });
    });
    highlight(root, x, top, height - top);
    if (D.cut_ms !== null) {
      html('p', 'The timeline holds the run up to ' + sec(D.cut_ms) +
           ' (its bound was reached).', document.getElementById('timeline'),
           'legend');
    }
  }

  /* Lanes: per client, counts per time bucket (darker: more operations;
   * red: some did not end ok), and the window's operations one by one. */
  function drawLanes() {
    var legend = document.getElementById('lanes-legend');
    legend.appendChild(document.createTextNode(
      'One lane per client; each cell holds the operations invoked in ' +
      D.bucket_ms.toFixed(0) + ' ms (darker: more; from green to red: the ' +
      'share that failed or ended unknown). '));
    swatch(legend, 'rgba(255,215,0,0.35)', 'failing window');
    var laneH = 14;
    var top = 18;
    var height = top + D.lanes.length * laneH + 4;
    var root = svg('svg', {width: W, height: height, id: 'lanes-svg'},
                   document.getElementById('lanes'));
    var x = scale(0, T);
    axis(root, x, 0, T, top, height - top);
    var most = 1;
    D.lanes.forEach(function (l) {
      l.b.forEach(function (b) { most = Math.max(most, b[1]); });
    });
    D.lanes.forEach(function (l, i) {
      var y = top + i * laneH;
      var g = svg('g', {'class': 'lane'}, root);
      svg('text', {x: 4, y: y + 11}, g).textContent = l.name;
      l.b.forEach(function (b) {
        var from = b[0] * D.bucket_ms;
        var r = svg('rect', {x: x(from), y: y + 1,
                             width: Math.max(1, x(from + D.bucket_ms) - x(from)),
                             height: laneH - 2,
                             fill: 'hsl(' + Math.round(120 * (1 - b[2] / b[1])) +
                                   ',60%,38%)',
                             opacity: 0.15 + 0.85 * b[1] / most}, g);
        title(r, l.name + ' ' + sec(from) + ': ' + b[1] + ' ops, ' + b[2] +
              ' failed or unknown');
      });
    });
    highlight(root, x, top, height - top);
  }

  /* The window's operations on their own axis, each bar labelled with
   * the node that answered it. */
  function drawWindowLanes(parent) {
    var laneH = 18;
    var top = 18;
    var height = top + D.lanes.length * laneH + 4;
    var root = svg('svg', {width: W, height: height, id: 'window-svg'}, parent);
    var x = scale(D.window.from, D.window.to);
    axis(root, x, D.window.from, D.window.to, top, height - top);
    D.lanes.forEach(function (l, i) {
      svg('text', {x: 4, y: top + i * laneH + 13}, root).textContent = l.name;
    });
    D.ops.forEach(function (o) {
      var y = top + o[0] * laneH;
      var w = Math.max(2, x(o[3]) - x(o[2]));
      var r = svg('rect', {x: x(o[2]), y: y + 2, width: w, height: laneH - 4,
                           fill: OUT_COLOR[o[4]], opacity: 0.8,
                           stroke: o[6] === 2 ? '#000' : o[6] === 1 ? '#1f4e9c' : 'none',
                           'stroke-width': o[6] === 2 ? 3 : 1.5}, root);
      title(r, 'process ' + o[1] + ': ' + o[7] + ' on key ' + o[8] + ', ' +
            sec(o[2]) + ' - ' + sec(o[3]) + ', ' + OUT[o[4]] +
            (o[5] ? ', answered by node ' + o[5] : '') +
            (o[6] === 2 ? ' - could not be placed' :
             o[6] === 1 ? ' - in the checker\'s prefix' : ''));
      if (w > 16 && o[5]) {
        svg('text', {x: x(o[2]) + 2, y: y + 13, fill: '#fff'},
            root).textContent = 'n' + o[5];
      }
    });
    if (D.violation && D.violation.at !== null) {
      svg('line', {x1: x(D.violation.at), x2: x(D.violation.at), y1: top,
                   y2: height, stroke: '#c0392b', 'stroke-width': 2}, root);
    }
  }

  function drawFailing() {
    var s = document.getElementById('failing');
    if (!D.window && !D.violation && !D.lin) { return; }
    html('h2', 'What failed', s);
    if (D.violation) {
      html('p', 'Safety violation' + (D.violation.at !== null ?
           ' (seen at ' + sec(D.violation.at) + ')' : '') + ':', s);
      html('p', D.violation.text, s, 'violation').id = 'violation';
    }
    if (D.lin) {
      html('p', 'Linearizability: on key ' + JSON.stringify(D.lin.key) +
           ' the checker placed ' + D.lin.prefix_len +
           ' operations in order (its longest prefix, outlined blue), after ' +
           'which the key holds ' + JSON.stringify(D.lin.state) +
           '; these could not be placed next (outlined black):', s);
      var ul = html('ul', null, s);
      D.lin.unplaced.forEach(function (u) { html('li', u, ul); });
    }
    if (D.window) {
      html('p', 'Window ' + sec(D.window.from) + ' - ' + sec(D.window.to) +
           ': ' + D.window.why + '. ' + D.ops.length +
           ' operations, each bar labelled with the node that answered it.',
           s, 'legend');
      drawWindowLanes(s);
    }
  }

  function drawEvents() {
    if (!D.log.length) { return; }
    var s = document.getElementById('events');
    html('h2', 'events.log in the window', s);
    html('pre', D.log.map(function (l) {
      return (l[0] / 1000).toFixed(3).padStart(10) + '  ' + l[1];
    }).join('\n'), s, 'log');
  }

  /* Chart.js plugin: the fault bands behind the datasets. */
  var bandsPlugin = {
    id: 'faultBands',
    beforeDatasetsDraw: function (chart) {
      var xs = chart.scales.x;
      var area = chart.chartArea;
      var ctx = chart.ctx;
      ctx.save();
      ctx.globalAlpha = 0.18;
      faultBands().forEach(function (b) {
        var a = xs.getPixelForValue(b[0] / 1000);
        var z = xs.getPixelForValue(b[1] / 1000);
        ctx.fillStyle = b[2] === '#ffffff' ? '#999' : b[2];
        ctx.fillRect(Math.max(a, area.left), area.top,
                     Math.max(1, Math.min(z, area.right) - Math.max(a, area.left)),
                     area.bottom - area.top);
      });
      if (D.window) {
        ctx.globalAlpha = 0.3;
        ctx.fillStyle = '#ffd700';
        var wa = xs.getPixelForValue(D.window.from / 1000);
        var wz = xs.getPixelForValue(D.window.to / 1000);
        ctx.fillRect(wa, area.top, Math.max(2, wz - wa), area.bottom - area.top);
      }
      ctx.restore();
    }
  };
  function xAxis() {
    return {type: 'linear', min: 0, max: T / 1000,
            title: {display: true, text: 'seconds since the run started'}};
  }

  function drawLatency() {
    var sets = OUT.map(function (name, k) {
      var flat = D.lat[name];
      var pts = [];
      for (var i = 0; i + 1 < flat.length; i += 2) {
        pts.push({x: flat[i] / 1000, y: flat[i + 1]});
      }
      return {label: name + ' (' + pts.length + ')', data: pts,
              backgroundColor: OUT_COLOR[k], pointRadius: k ? 2.5 : 1.5};
    });
    var thinned = OUT.filter(function (name) { return D.lat_every[name] > 1; });
    var every = thinned.length ? ' (' + thinned.map(function (name) {
      return 'one ' + name + ' point in ' + D.lat_every[name];
    }).join(', ') + ')' : '';
    new Chart(document.getElementById('latency'), {
      type: 'scatter', data: {datasets: sets}, plugins: [bandsPlugin],
      options: {animation: false, responsive: true, maintainAspectRatio: false,
                scales: {x: xAxis(),
                         y: {type: 'logarithmic',
                             title: {display: true, text: 'latency (ms, log)'}}},
                plugins: {title: {display: true, text:
                  'Each completed operation at its completion' + every}}}
    });
  }

  function drawThroughput() {
    var secs = D.bucket_ms / 1000;
    var sets = OUT.map(function (name, k) {
      return {label: name, borderColor: OUT_COLOR[k], backgroundColor: OUT_COLOR[k],
              pointRadius: 0, borderWidth: 1.5,
              data: D.thr[name].map(function (n, b) {
                return {x: (b + 0.5) * secs, y: n / secs};
              })};
    });
    new Chart(document.getElementById('throughput'), {
      type: 'line', data: {datasets: sets}, plugins: [bandsPlugin],
      options: {animation: false, responsive: true, maintainAspectRatio: false,
                scales: {x: xAxis(),
                         y: {beginAtZero: true,
                             title: {display: true, text: 'operations/s'}}},
                plugins: {title: {display: true, text:
                  'Completions per second, by outcome'}}}
    });
  }

  drawTimeline();
  drawFailing();
  drawLanes();
  drawEvents();
  if (typeof Chart !== 'undefined') {
    drawLatency();
    drawThroughput();
  } else {
    throw new Error('Chart.js is missing');
  }
  document.body.setAttribute('data-ready', '1');
})();
