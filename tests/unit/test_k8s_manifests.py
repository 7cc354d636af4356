"""deploy/k8s checked offline: every resource against the Kubernetes schemas (kubernetes-validate, strict: an
unknown or misspelt field fails), KEDA's resources by their required fields, kustomization references, and each
overlay rendered by `kubectl kustomize` when kubectl is installed (nothing is downloaded)."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / 'deploy' / 'k8s'
KUSTOMIZATIONS = sorted(K8S.rglob('kustomization.yaml'))
RESOURCE_FILES = sorted(path for path in K8S.rglob('*.yaml') if path.name != 'kustomization.yaml')
OVERLAYS = sorted(path.parent for path in (K8S / 'overlays').glob('*/kustomization.yaml'))
VERSION = kubernetes_validate.latest_version()
#: KEDA's custom resources are not in kubernetes-validate's schemas: their required fields, checked here.
KEDA_REQUIRED = {
    'ScaledObject': ('scaleTargetRef', 'triggers'),
    'TriggerAuthentication': ('secretTargetRef',),
}
KEDA_TRIGGER_METADATA = {'rabbitmq': ('queueName', 'mode', 'value')}


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def check(doc: dict[str, Any]) -> None:
    """Raise when a resource does not fit its schema."""
    if doc.get('apiVersion', '').startswith('keda.sh/'):
        check_keda(doc)
    else:
        kubernetes_validate.validate(doc, VERSION, strict=True)


def check_keda(doc: dict[str, Any]) -> None:
    assert doc['apiVersion'] == 'keda.sh/v1alpha1', doc['apiVersion']
    assert doc['kind'] in KEDA_REQUIRED, doc['kind']
    assert doc.get('metadata', {}).get('name'), 'KEDA resource without metadata.name'
    spec = doc['spec']
    missing = [field for field in KEDA_REQUIRED[doc['kind']] if field not in spec]
    assert not missing, f'{doc["kind"]} {doc["metadata"]["name"]} lacks spec.{", spec.".join(missing)}'
    if doc['kind'] == 'ScaledObject':
        assert spec['scaleTargetRef'].get('name')
        assert spec.get('minReplicaCount', 0) <= spec.get('maxReplicaCount', 100)
        for trigger in spec['triggers']:
            need = KEDA_TRIGGER_METADATA[trigger['type']]
            assert all(trigger['metadata'].get(key) for key in need), trigger
            assert trigger['authenticationRef']['name']


@pytest.mark.parametrize('path', RESOURCE_FILES, ids=lambda path: str(path.relative_to(K8S)))
def test_each_resource_file_fits_the_kubernetes_schemas(path: Path) -> None:
    docs = documents(path.read_text())
    assert docs, f'{path} holds no resource'
    if path.parent.parent.name == 'overlays':
        return  # patches: partial resources, checked once rendered (below)
    for doc in docs:
        check(doc)


@pytest.mark.parametrize('path', KUSTOMIZATIONS, ids=lambda path: str(path.relative_to(K8S)))
def test_kustomizations_reference_files_that_exist(path: Path) -> None:
    spec = yaml.safe_load(path.read_text())
    references = [*spec.get('resources', []), *spec.get('components', [])]
    references += [patch['path'] for patch in spec.get('patches', []) if 'path' in patch]
    assert references, f'{path} references nothing'
    for reference in references:
        target = (path.parent / reference).resolve()
        assert target.is_file() or (target / 'kustomization.yaml').is_file(), f'{path}: {reference} does not exist'


@pytest.mark.skipif(shutil.which('kubectl') is None, reason='kubectl is not installed (nothing is downloaded)')
@pytest.mark.parametrize('overlay', OVERLAYS, ids=lambda path: path.name)
def test_each_overlay_renders_to_valid_resources(overlay: Path) -> None:
    rendered = subprocess.run(
        ['kubectl', 'kustomize', str(overlay)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    docs = documents(rendered)
    for doc in docs:
        check(doc)
    kinds = {(doc['kind'], doc['metadata']['name']) for doc in docs}
    for wanted in [('Deployment', 'fba-api'), ('Deployment', 'fba-beat'), ('Job', 'fba-migrate')]:
        assert wanted in kinds
    beat = next(doc for doc in docs if doc['metadata']['name'] == 'fba-beat' and doc['kind'] == 'Deployment')
    assert beat['spec']['replicas'] == 2
    workers = [doc for doc in docs if doc['kind'] == 'Deployment' and doc['metadata']['name'].startswith('fba-worker')]
    assert len(workers) >= 2
    assert any(kind in {'ScaledObject', 'HorizontalPodAutoscaler'} for kind, name in kinds if 'worker' in name)
    for doc in docs:
        if doc['kind'] in ('Deployment', 'Job'):
            for container in doc['spec']['template']['spec']['containers']:
                assert container['resources']['requests'] and container['resources']['limits'], doc['metadata']


def test_the_validation_can_fail() -> None:
    with pytest.raises(kubernetes_validate.ValidationError):
        check({'apiVersion': 'v1', 'kind': 'Service', 'metadata': {'name': 'x'}, 'spec': {'portz': []}})
    with pytest.raises(AssertionError):
        check({'apiVersion': 'keda.sh/v1alpha1', 'kind': 'ScaledObject', 'metadata': {'name': 'x'}, 'spec': {}})
