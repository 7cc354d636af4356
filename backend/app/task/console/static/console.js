// fba console: live regions, the schedule preview and select-all. No framework, no build step.
'use strict';

// A region with data-poll="URL" is re-fetched every data-poll-ms and its content swapped,
// until the fragment marks itself final (data-final) or the page is left.
function pollRegion(region) {
  const every = Number(region.dataset.pollMs) || 2000;
  const tick = async () => {
    if (document.hidden) { window.setTimeout(tick, every); return; }  // no polling from a background tab
    try {
      const response = await fetch(region.dataset.poll, {credentials: 'same-origin', headers: {Accept: 'text/html'}});
      if (response.redirected && response.url.includes('/console/sign-in')) { window.location.reload(); return; }
      if (response.ok) {
        region.innerHTML = await response.text();
        region.dispatchEvent(new CustomEvent('console:swapped', {bubbles: true}));
      }
    } catch (error) { /* network blip: try again on the next tick */ }
    if (!region.querySelector('[data-final]')) { window.setTimeout(tick, every); }
  };
  if (!region.querySelector('[data-final]')) { window.setTimeout(tick, every); }
}

// The schedule form: show only the fields of the chosen kind, and preview the next fire times as the user types.
function scheduleForm(form) {
  const target = document.getElementById('preview');
  const specFields = ['kind', 'interval_every', 'interval_period', 'crontab', 'clocked_at', 'timezone'];
  let timer = null;
  let asked = 0;
  const showKind = () => {
    const kind = (form.querySelector('input[name="kind"]:checked') || {}).value;
    for (const name of ['interval', 'crontab', 'clocked']) {
      form.querySelector('.kind-' + name).hidden = name !== kind;
    }
  };
  const preview = async () => {
    const query = new URLSearchParams();
    const data = new FormData(form);
    for (const name of specFields) { if (data.get(name)) { query.set(name, data.get(name)); } }
    const mine = ++asked;
    const response = await fetch(form.dataset.preview + '?' + query, {credentials: 'same-origin'});
    if (mine === asked && response.ok) { target.innerHTML = await response.text(); }
  };
  const changed = () => { showKind(); window.clearTimeout(timer); timer = window.setTimeout(preview, 250); };
  form.addEventListener('input', changed);
  form.addEventListener('change', changed);
  showKind();
  preview();
}

// A checkbox with data-select-all="NAME" checks or clears every enabled checkbox called NAME in its form.
function selectAll(box) {
  box.addEventListener('change', () => {
    for (const other of box.form.querySelectorAll('input[type="checkbox"][name="' + box.dataset.selectAll + '"]')) {
      if (!other.disabled) { other.checked = box.checked; }
    }
  });
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('[data-poll]').forEach(pollRegion);
  document.querySelectorAll('form[data-preview]').forEach(scheduleForm);
  document.querySelectorAll('input[data-select-all]').forEach(selectAll);
});
