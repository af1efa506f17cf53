# Writes sklearn_knn_fashion_mnist.json (scikit-learn 1.9.1; run from the repository root with the anchors venv:
# /tmp/anchors/venv/bin/python tests/data/sklearn_knn_fashion_mnist.py).
import gzip, json, numpy as np
from sklearn.neighbors import KNeighborsClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold
d='data/cache/fashion-mnist/'
def idx(p, off):
    with gzip.open(d+p) as f: return np.frombuffer(f.read(), np.uint8, offset=off)
xtr=idx('train-images-idx3-ubyte.gz',16).reshape(-1,784).astype(np.float32)/np.float32(255)
ytr=idx('train-labels-idx1-ubyte.gz',8).astype(int)
xte=idx('t10k-images-idx3-ubyte.gz',16).reshape(-1,784).astype(np.float32)/np.float32(255)
out={}
clf=KNeighborsClassifier(5,algorithm='brute').fit(xtr[:5000],ytr[:5000])
out['knn5_l2_train5000_test500']=clf.predict(xte[:500]).tolist()
clf=KNeighborsClassifier(3,algorithm='brute',p=1).fit(xtr[:5000],ytr[:5000])
out['knn3_l1_train5000_test500']=clf.predict(xte[:500]).tolist()
gs=GridSearchCV(KNeighborsClassifier(algorithm='brute'),{'n_neighbors':[1,3,5],'p':[1,2]},cv=StratifiedKFold(3),refit=False).fit(xtr[:1500],ytr[:1500])
out['grid_1500']={'params':[str(p) for p in gs.cv_results_['params']],
 'fold_scores':[[float(gs.cv_results_[f'split{i}_test_score'][j]) for i in range(3)] for j in range(6)],
 'best_index':int(gs.best_index_)}
json.dump(out,open('tests/data/sklearn_knn_fashion_mnist.json','w'))
print(out['grid_1500'])
