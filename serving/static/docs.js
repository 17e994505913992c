// Swagger UI for the abscopal API, offline: no validator (it would call validator.swagger.io),
// BaseLayout (no top bar), the document served by this server.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "./docs.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    defaultModelsExpandDepth: 1,
    tryItOutEnabled: false,
  });
});
