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
    bar.hidden = false; bar.value = 0; bar.max = 1;
    xhr.upload.onprogress = function (ev) { if (ev.lengthComputable) { bar.max = ev.total; bar.value = ev.loaded; } };
    xhr.onload = function () { window.location.href = xhr.responseURL || window.location.href; };
    xhr.onerror = function () { form.submit(); };
    xhr.send(new FormData(form));
  });
})();
