"use strict";
// The API docs page: the OpenAPI description rendered as plain HTML (no third-party code).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}
function schemaName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(schemaName).join(" | ");
  if (schema.type === "array") return schemaName(schema.items) + "[]";
  if (schema.enum) return schema.enum.join(" | ");
  return schema.type || "";
}
fetch("/api/v1/openapi.json").then(r => r.json()).then(spec => {
  document.getElementById("version").textContent = "v" + spec.info.version;
  const root = document.getElementById("routes");
  root.textContent = "";
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const box = el("section", {class: "route"});
      box.append(el("h2", {}, el("span", {class: "method " + method}, method.toUpperCase()), " ", el("code", {}, path)));
      if (op.summary) box.append(el("p", {}, op.summary));
      const params = op.parameters || [];
      if (params.length) {
        const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "default")));
        for (const p of params) {
          const s = p.schema || {};
          table.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, schemaName(s)),
            el("td", {}, s.default === undefined ? (p.required ? "required" : "") : JSON.stringify(s.default))));
        }
        box.append(table);
      }
      const body = op.requestBody && op.requestBody.content["application/json"];
      if (body) {
        const name = schemaName(body.schema);
        const schema = spec.components.schemas[name];
        const fields = schema ? Object.entries(schema.properties).map(([k, v]) => `${k}: ${schemaName(v)}`).join(", ") : name;
        box.append(el("p", {}, "JSON body: ", el("code", {}, `{${fields}}`)));
      }
      root.append(box);
    }
  }
});
