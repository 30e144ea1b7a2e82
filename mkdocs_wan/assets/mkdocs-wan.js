/* mkdocs-wan: start the clips marked `data-wan-autoplay`, unless the reader asked for reduced
   motion. Clips carry no `autoplay` attribute, so without this script (JavaScript off) nothing
   moves by itself: each clip shows its poster and plays on request. A MutationObserver picks up
   clips that a theme swaps in later (Material's instant navigation, content tabs). No requests. */
(function () {
  "use strict";
  var calm = window.matchMedia("(prefers-reduced-motion: reduce)");
  var selector = "video[data-wan-autoplay]";

  function start(video) {
    if (calm.matches || video.dataset.wanStarted) return;
    video.dataset.wanStarted = "1"; /* once: a clip the reader paused stays paused */
    video.muted = true;
    /* The attribute, not play(): the browser then starts the clip when it becomes visible
       (a hidden content tab, a clip below the fold) and pauses it while it is off screen. */
    video.autoplay = true;
    if (video.readyState >= 3) {
      var playing = video.play();
      if (playing && playing.catch) playing.catch(function () {});
    }
  }

  function startWithin(node) {
    if (node.nodeType !== 1) return;
    if (node.matches(selector)) start(node);
    node.querySelectorAll(selector).forEach(start);
  }

  function onChange() {
    document.querySelectorAll(selector).forEach(function (video) {
      if (calm.matches) {
        video.autoplay = false;
        video.pause();
      } else {
        start(video);
      }
    });
  }

  startWithin(document.documentElement);
  new MutationObserver(function (mutations) {
    mutations.forEach(function (mutation) {
      mutation.addedNodes.forEach(startWithin);
    });
  }).observe(document.documentElement, { childList: true, subtree: true });
  if (calm.addEventListener) calm.addEventListener("change", onChange);
})();
