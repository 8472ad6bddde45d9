// Optional progressive enhancement: upload progress and drag-and-drop. Everything works without it.
(function () {
  var form = document.getElementById('upload');
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  var input = form.querySelector('input[type=file]');
  var bar = form.querySelector('progress');
  form.addEventListener('dragover', function (e) { e.preventDefault(); form.classList.add('drag'); });
  form.addEventListener('dragleave', function () { form.classList.remove('drag'); });
  form.addEventListener('drop', function (e) {
    e.preventDefault(); form.classList.remove('drag');
    if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; }
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    // Tells the server to answer with the destination as text instead of a redirect, so the
    // "Uploaded ..." notice is still there when the browser goes to it.
    xhr.setRequestHeader('X-Ferroftp-Upload', '1');
    bar.hidden = false; bar.value = 0; bar.max = 1;
    xhr.upload.onprogress = function (ev) { if (ev.lengthComputable) { bar.max = ev.total; bar.value = ev.loaded; } };
    xhr.onload = function () {
      var type = xhr.getResponseHeader('Content-Type') || '';
      if (xhr.status === 200 && type.indexOf('text/plain') === 0) {
        window.location.href = xhr.responseText;
      } else {
        // An error page: show it as the server rendered it.
        document.open(); document.write(xhr.responseText); document.close();
      }
    };
    xhr.onerror = function () { bar.hidden = true; form.submit(); };
    xhr.send(new FormData(form));
  });
})();
