"""infra/ as far as it can be checked without the Bicep compiler: it parses, every resource names its
API version, the app's identity holds exactly the roles it needs on the resources they are for, and
no secret, key or connection string sits in the files. Each check is also run on a damaged copy,
to show that it notices the damage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import bicep_checks as checks
from bicep_checks import INFRA, ROOT


@pytest.fixture
def infra_copy(tmp_path) -> Path:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name}: the test's damage no longer applies"
    path.write_text(text.replace(old, new, 1))


def test_the_layout_azd_expects():
    assert (INFRA / "main.bicep").is_file() and (INFRA / "main.parameters.json").is_file()
    modules = {p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep")}
    assert {"app/function.bicep", "core/storage.bicep", "core/monitor.bicep", "core/keyvault.bicep",
            "core/identity.bicep", "core/postgres.bicep", "core/rbac.bicep", "core/dts.bicep"} <= modules
    service = yaml.safe_load((ROOT / "azure.yaml").read_text())["services"]["api"]
    assert service == {"project": ".", "language": "python", "host": "function"}


def test_every_bicep_file_parses_without_error_or_missing_nodes():
    assert len(checks.bicep_files()) >= 9
    assert checks.syntax_problems() == []


def test_a_syntax_error_is_found(infra_copy):
    edit(infra_copy / "core" / "keyvault.bicep", "enableRbacAuthorization: true", "enableRbacAuthorization: = true")
    problems = checks.syntax_problems(infra_copy)
    assert problems and all(p.startswith("core/keyvault.bicep:") for p in problems)


def test_every_resource_declares_an_api_version():
    resources = [r for b in checks.bicep_files() for r in b.resources()]
    assert len(resources) >= 20
    assert checks.api_version_problems() == []


def test_a_resource_without_api_version_is_found(infra_copy):
    edit(infra_copy / "core" / "identity.bicep", "userAssignedIdentities@2023-01-31'", "userAssignedIdentities'")
    assert checks.api_version_problems(infra_copy) == [
        "core/identity.bicep:6: resource identity ('Microsoft.ManagedIdentity/userAssignedIdentities') "
        "declares no API version"]


def test_the_app_identity_holds_each_required_role_on_its_resource_and_nothing_broader():
    assert checks.role_problems() == []
    roles = {a["role"] for a in checks.role_assignments() if a["principal"] == "appPrincipalId"}
    assert roles == {role_id for role_id, _ in checks.REQUIRED_APP_ROLES.values()}


@pytest.mark.parametrize("symbol, role", [
    ("tableContributor", "Storage Table Data Contributor"),
    ("secretsUser", "Key Vault Secrets User"),
    ("metricsPublisher", "Monitoring Metrics Publisher"),
])
def test_removing_a_role_assignment_is_caught(infra_copy, symbol, role):
    rbac = infra_copy / "core" / "rbac.bicep"
    text = rbac.read_text()
    start = text.index(f"resource {symbol} ")
    end = text.index("\n}\n", start) + 3
    rbac.write_text(text[:start] + text[end:])
    assert checks.syntax_problems(infra_copy) == []  # still valid Bicep: only the role is gone
    problems = checks.role_problems(infra_copy)
    assert len(problems) == 1 and role in problems[0]


def test_a_role_scoped_to_the_wrong_resource_or_too_broad_is_caught(infra_copy):
    rbac = infra_copy / "core" / "rbac.bicep"
    edit(rbac, "name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)\n  scope: vault",
         "name: guid(vault.id, appPrincipalId, roles.keyVaultSecretsUser)\n  scope: storage")
    edit(rbac, "monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'",
         "monitoringMetricsPublisher: 'b24988ac-6180-42a0-ab88-20f7382dd24c'")
    problems = checks.role_problems(infra_copy)
    assert any("Key Vault Secrets User is scoped to Microsoft.Storage/storageAccounts" in p for p in problems)
    assert any("Monitoring Metrics Publisher" in p and "no role assignment" in p for p in problems)
    assert any("grants Contributor" in p for p in problems)


def test_no_secret_key_or_connection_string_under_infra():
    assert checks.secret_literal_problems() == []
    assert checks.parameters_file_problems() == []


@pytest.mark.parametrize("file, old, new, found", [
    ("main.bicep", "param tokenEncryptionKey string = ''",
     "param tokenEncryptionKey string = 'q0rX2N8vYpL3mT7wK1sZ5aB9cD4eF6gH8jK0lM2nO4p='", "secure parameter"),
    ("app/function.bicep", "  AZURE_TOKEN_CREDENTIALS: 'prod'\n",
     "  AZURE_TOKEN_CREDENTIALS: 'prod'\n  AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountName=x;"
     "AccountKey=abc'\n", "account key"),
    ("main.bicep", "'DATABASE-URL': databaseMode == 'azurePostgres' ? azurePostgresUrl : databaseUrl",
     "'DATABASE-URL': 'postgresql://advisor:hunter22@db.example.com:5432/app'", "connection string with a password"),
    ("core/storage.bicep", "output name string = storage.name",
     "output key string = storage.listKeys().keys[0].value\noutput name string = storage.name", "reads keys"),
])
def test_a_secret_literal_is_caught(infra_copy, file, old, new, found):
    edit(infra_copy / file, old, new)
    problems = checks.secret_literal_problems(infra_copy)
    assert any(found in p and p.startswith(file) for p in problems), problems


def test_identity_based_host_storage_and_no_local_auth():
    storage = checks.BicepFile.load(INFRA / "core" / "storage.bicep")
    (account,) = [r for r in storage.resources() if r.type == "Microsoft.Storage/storageAccounts"]
    assert storage.text(checks.path_of(storage, account.body, "properties", "allowSharedKeyAccess")) == "false"
    monitor = checks.BicepFile.load(INFRA / "core" / "monitor.bicep")
    (insights,) = [r for r in monitor.resources() if r.type == "Microsoft.Insights/components"]
    assert monitor.text(checks.path_of(monitor, insights.body, "properties", "DisableLocalAuth")) == "true"
    vault = checks.BicepFile.load(INFRA / "core" / "keyvault.bicep")
    (kv,) = [r for r in vault.resources() if r.type == "Microsoft.KeyVault/vaults"]
    assert vault.text(checks.path_of(vault, kv.body, "properties", "enableRbacAuthorization")) == "true"
    platform = checks.app_settings()["platform"]
    assert platform["AzureWebJobsStorage__credential"] == "managedidentity"
    assert {"AzureWebJobsStorage__clientId", "AzureWebJobsStorage__blobServiceUri",
            "AzureWebJobsStorage__queueServiceUri", "AzureWebJobsStorage__tableServiceUri"} <= set(platform)
    function = checks.BicepFile.load(INFRA / "app" / "function.bicep")
    auth = function.text(checks.path_of(function, function.variable("platformSettings"),
                                        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"))
    assert "ClientId=${identityClientId};Authorization=AAD" in auth


def test_flex_consumption_python_with_a_warm_durable_group():
    bicep = checks.BicepFile.load(INFRA / "app" / "function.bicep")
    (site,) = [r for r in bicep.resources() if r.type == "Microsoft.Web/sites"]
    (plan,) = [r for r in bicep.resources() if r.type == "Microsoft.Web/serverfarms"]
    assert checks.string_value(bicep, checks.path_of(bicep, plan.body, "sku", "tier")) == "FlexConsumption"
    config = checks.path_of(bicep, site.body, "properties", "functionAppConfig")
    assert checks.string_value(bicep, checks.path_of(bicep, config, "runtime", "name")) == "python"
    storage = checks.path_of(bicep, config, "deployment", "storage")
    assert checks.string_value(bicep, checks.path_of(bicep, storage, "authentication", "type")) == "UserAssignedIdentity"
    always_ready = bicep.text(checks.path_of(bicep, config, "scaleAndConcurrency", "alwaysReady"))
    assert "name: 'durable'" in always_ready
    tags = bicep.text(checks.path_of(bicep, site.body, "tags"))
    assert "'azd-service-name': 'api'" in tags


def test_the_provisioning_outputs_name_the_shopify_urls_the_app_serves():
    import tomllib

    from shared.shopify.webhook_subscriptions import WEBHOOK_PATH

    main = checks.BicepFile.load(INFRA / "main.bicep")
    outputs = {main.text(o.named_children[0]): main.text(o.named_children[-1])
               for o in main.declarations("output_declaration")}
    toml = tomllib.loads((ROOT / "shopify.app.toml").read_text())
    callback_path = toml["auth"]["redirect_urls"][0].split(".net", 1)[1]
    assert outputs["SHOPIFY_REDIRECT_URL"] == f"'${{functionApp.outputs.baseUrl}}{callback_path}'"
    assert outputs["SHOPIFY_WEBHOOK_URL"] == f"'${{functionApp.outputs.baseUrl}}{WEBHOOK_PATH}'"


def test_every_module_call_matches_the_modules_parameters_and_outputs():
    main = checks.BicepFile.load(INFRA / "main.bicep")
    assert len(main.declarations("module_declaration")) == 8
    assert checks.module_problems() == []


def test_a_mismatched_module_parameter_or_output_is_caught(infra_copy):
    edit(infra_copy / "app" / "function.bicep", "param keyVaultUri string", "param vaultUri string")
    edit(infra_copy / "core" / "identity.bicep", "output clientId string", "output applicationId string")
    problems = checks.module_problems(infra_copy)
    assert "main.bicep: module functionApp passes keyVaultUri, which app/function.bicep does not declare" in problems
    assert "main.bicep: module functionApp does not pass vaultUri, which app/function.bicep requires" in problems
    assert "main.bicep: identity.outputs.clientId is not an output of module identity" in problems


def test_every_name_used_is_declared():
    assert checks.undeclared_identifier_problems() == []


def test_a_renamed_parameter_still_in_use_is_caught(infra_copy):
    edit(infra_copy / "app" / "function.bicep", "param keyVaultUri string", "param vaultUri string")
    assert checks.undeclared_identifier_problems(infra_copy) == [
        "app/function.bicep:" + str(1 + (INFRA / "app" / "function.bicep").read_text().split("\n").index(
            "  KEY_VAULT_URL: keyVaultUri")) + ": keyVaultUri is not declared"]
