// Optional progressive enhancement of the upload form: a drop zone that uploads what is
// dropped (folders too), one upload per file with its own progress bar and Cancel button,
// and large files sent in pieces that resume after a dropped connection. Without this
// script the form posts as a plain multipart form and everything still works.
(function () {
  'use strict';
  var form = document.getElementById('upload');
  if (!form || !window.XMLHttpRequest || !window.FormData || !window.Blob) return;
  var csrf = form.querySelector('input[name=csrf]').value;
  var dir = form.getAttribute('data-dir');
  var zone = form.querySelector('.dropzone');
  var queueList = form.querySelector('.queue');
  var RESUMABLE_FROM = 16 * 1024 * 1024; // larger files go in pieces
  var PIECE = 8 * 1024 * 1024;
  var RETRIES = 20; // per piece, after a dropped connection
  var PARALLEL = 2;
  var waiting = [];
  var running = 0;
  var finished = { ok: 0, failed: 0 };
  var lastListing = null;

  function query(name) {
    return 'dir=' + encodeURIComponent(dir) + '&name=' + encodeURIComponent(name);
  }

  /** The error text of a page the server answered with (or the text itself). */
  function errorOf(xhr) {
    var type = xhr.getResponseHeader('Content-Type') || '';
    if (type.indexOf('text/html') === 0) {
      var page = new DOMParser().parseFromString(xhr.responseText, 'text/html');
      var p = page.querySelector('p.error');
      if (p) return p.textContent;
    }
    return xhr.responseText || ('HTTP ' + xhr.status);
  }

  function row(name, size) {
    var li = document.createElement('li');
    var label = document.createElement('span');
    label.className = 'qname';
    label.textContent = name;
    label.title = name;
    var bar = document.createElement('progress');
    bar.max = size || 1;
    bar.value = 0;
    var state = document.createElement('span');
    state.className = 'qstate';
    state.textContent = 'waiting';
    var cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'secondary';
    cancel.textContent = 'Cancel';
    li.appendChild(label); li.appendChild(bar); li.appendChild(state); li.appendChild(cancel);
    queueList.appendChild(li);
    return { li: li, bar: bar, state: state, cancel: cancel };
  }

  function enqueue(file, name) {
    var job = { file: file, name: name, ui: row(name, file.size), xhr: null, cancelled: false };
    job.ui.cancel.addEventListener('click', function () {
      job.cancelled = true;
      if (job.xhr) job.xhr.abort();
      if (job.resumable) post('/upload-cancel?' + query(job.name), null, function () {});
      end(job, false, 'cancelled');
    });
    waiting.push(job);
    pump();
  }

  function pump() {
    while (running < PARALLEL && waiting.length) {
      var job = waiting.shift();
      if (job.cancelled) continue;
      running++;
      job.running = true;
      job.ui.state.textContent = 'uploading';
      if (job.file.size >= RESUMABLE_FROM) inPieces(job); else whole(job);
    }
    if (!running && !waiting.length && finished.ok + finished.failed > 0) {
      if (!finished.failed && lastListing) window.location.href = lastListing;
    }
  }

  function end(job, ok, text) {
    if (job.done) return;
    job.done = true;
    job.ui.state.textContent = text;
    job.ui.li.className = ok ? 'ok' : 'bad';
    job.ui.cancel.hidden = true;
    if (ok) finished.ok++; else finished.failed++;
    if (job.running) { job.running = false; running--; }
    pump();
  }

  function post(url, body, done, progress) {
    var xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('X-Ferroftp-Csrf', csrf);
    if (progress) xhr.upload.onprogress = progress;
    xhr.onload = function () { done(xhr); };
    xhr.onerror = function () { done(xhr, true); };
    xhr.send(body);
    return xhr;
  }

  /** A file in one multipart request (the same endpoint the plain form uses). */
  function whole(job) {
    var data = new FormData();
    data.append('csrf', csrf);
    data.append('file', job.file, job.name);
    var xhr = new XMLHttpRequest();
    job.xhr = xhr;
    xhr.open('POST', form.action);
    // Asks for the destination as text instead of a redirect.
    xhr.setRequestHeader('X-Ferroftp-Upload', '1');
    xhr.upload.onprogress = function (ev) { if (ev.lengthComputable) job.ui.bar.value = ev.loaded * job.ui.bar.max / ev.total; };
    xhr.onload = function () {
      var type = xhr.getResponseHeader('Content-Type') || '';
      if (xhr.status === 200 && type.indexOf('text/plain') === 0) {
        lastListing = xhr.responseText;
        job.ui.bar.value = job.ui.bar.max;
        end(job, true, 'done');
      } else {
        end(job, false, errorOf(xhr));
      }
    };
    xhr.onerror = function () { if (!job.cancelled) end(job, false, 'the connection failed'); };
    xhr.send(data);
  }

  /** A large file: pieces from where the server is, asking again after a failure. */
  function inPieces(job) {
    job.resumable = true;
    var tries = 0;
    function ask() {
      var xhr = new XMLHttpRequest();
      job.xhr = xhr;
      xhr.open('GET', '/upload-offset?' + query(job.name));
      xhr.onload = function () {
        if (xhr.status === 200) send(parseInt(xhr.responseText, 10) || 0);
        else end(job, false, errorOf(xhr));
      };
      xhr.onerror = retry;
      xhr.send();
    }
    function retry() {
      if (job.cancelled) return;
      if (++tries > RETRIES) { end(job, false, 'the connection kept failing'); return; }
      job.ui.state.textContent = 'reconnecting (' + tries + ')';
      setTimeout(ask, Math.min(500 * tries, 5000));
    }
    function send(offset) {
      if (job.cancelled) return;
      job.ui.bar.value = offset;
      if (offset >= job.file.size) { finish(); return; }
      job.ui.state.textContent = 'uploading';
      var piece = job.file.slice(offset, Math.min(offset + PIECE, job.file.size));
      job.xhr = post('/upload-piece?' + query(job.name) + '&offset=' + offset, piece, function (xhr, failed) {
        if (job.cancelled) return;
        if (failed) { retry(); return; }
        if (xhr.status === 200) { tries = 0; send(parseInt(xhr.responseText, 10)); }
        else if (xhr.status === 409) send(parseInt(xhr.responseText, 10) || 0);
        else if (xhr.status === 400 || xhr.status >= 500) retry();
        else end(job, false, errorOf(xhr));
      }, function (ev) { job.ui.bar.value = offset + ev.loaded; });
    }
    function finish() {
      job.xhr = post('/upload-done?' + query(job.name) + '&size=' + job.file.size, null, function (xhr, failed) {
        if (failed) { retry(); return; }
        if (xhr.status === 200) { lastListing = xhr.responseText; end(job, true, 'done'); }
        else end(job, false, errorOf(xhr));
      });
    }
    ask();
  }

  /** Files of a dropped folder, with their paths below it (bounded walk). */
  function walk(entry, prefix, out, budget) {
    return new Promise(function (resolve) {
      if (budget.left-- <= 0) { resolve(); return; }
      if (entry.isFile) {
        entry.file(function (f) { out.push([f, prefix + f.name]); resolve(); }, function () { resolve(); });
        return;
      }
      var reader = entry.createReader();
      var all = [];
      (function more() {
        reader.readEntries(function (batch) {
          if (!batch.length) {
            Promise.all(all.map(function (e) { return walk(e, prefix + entry.name + '/', out, budget); })).then(resolve);
            return;
          }
          all = all.concat(Array.prototype.slice.call(batch));
          more();
        }, function () { resolve(); });
      })();
    });
  }

  function takeDrop(dt) {
    var items = dt.items ? Array.prototype.slice.call(dt.items) : [];
    var entries = items.map(function (i) { return i.webkitGetAsEntry && i.webkitGetAsEntry(); }).filter(Boolean);
    if (!entries.length) {
      Array.prototype.forEach.call(dt.files, function (f) { enqueue(f, f.name); });
      return;
    }
    var out = [];
    var budget = { left: 10000 };
    Promise.all(entries.map(function (e) { return walk(e, '', out, budget); })).then(function () {
      out.forEach(function (p) { enqueue(p[0], p[1]); });
    });
  }

  zone.hidden = false;
  ['dragenter', 'dragover'].forEach(function (t) {
    form.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add('drag'); });
  });
  form.addEventListener('dragleave', function () { zone.classList.remove('drag'); });
  form.addEventListener('drop', function (e) {
    e.preventDefault();
    zone.classList.remove('drag');
    if (e.dataTransfer) takeDrop(e.dataTransfer);
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    Array.prototype.forEach.call(form.querySelectorAll('input[type=file]'), function (input) {
      Array.prototype.forEach.call(input.files, function (f) { enqueue(f, f.webkitRelativePath || f.name); });
      input.value = '';
    });
  });
})();
