// The customer's card-update page. With Stripe: mount the card field (Elements), confirm the SetupIntent in the
// browser, then submit the form with only the SetupIntent's id; the server finishes it with Stripe. With the
// sandbox the form posts the card itself. Either way a second click cannot submit the form twice.
(function () {
  "use strict";
  const form = document.getElementById("card-form");
  if (!form) return;
  const button = document.getElementById("card-submit");
  const mount = document.getElementById("card-element");

  if (!mount) {
    form.addEventListener("submit", function () { button.disabled = true; });
    return;
  }
  const error = document.getElementById("card-error");
  if (typeof Stripe === "undefined") {
    error.textContent = "The card form could not load. Check your connection and reload this page.";
    button.disabled = true;
    return;
  }
  const stripe = Stripe(mount.dataset.publishableKey);
  const card = stripe.elements().create("card");
  card.mount(mount);
  form.addEventListener("submit", async function (event) {
    if (form.elements.setup_intent.value) return;
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    const result = await stripe.confirmCardSetup(mount.dataset.clientSecret, {payment_method: {card: card}});
    if (result.error) {
      error.textContent = result.error.message;
      button.disabled = false;
      return;
    }
    form.elements.setup_intent.value = result.setupIntent.id;
    form.submit();
  });
})();
